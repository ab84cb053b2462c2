"""publisher: turn a Hugo-style content/ folder into feeds and an email newsletter."""

__version__ = "0.1.0"
