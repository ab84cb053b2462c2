"""The site configuration, `publisher.toml`: declared once, validated once, passed everywhere.

Each setting is a dataclass field with a default and a help text; `load_config` reads the
TOML file, rejects unknown keys and wrong types by name, and resolves paths against the
folder of the config file so the site works from any current directory.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from publisher.errors import ConfigError

DEFAULT_CONFIG_NAME = "publisher.toml"
PERMALINK_FIELDS = ("slug", "section", "year", "month", "day")


def _help(text: str, default: Any = dataclasses.MISSING, **kw: Any) -> Any:
    if default is dataclasses.MISSING and "default_factory" not in kw:
        return field(metadata={"help": text}, **kw)
    return field(default=default, metadata={"help": text}, **kw)


@dataclass(frozen=True)
class AuthorSettings:
    name: str = _help("Default author of every post, shown in feeds.", "")
    email: str = _help("Author's address, used in RSS <author> (optional).", "")


@dataclass(frozen=True)
class Settings:
    """Exactly what `publisher.toml` may contain (paths still relative, as written)."""

    title: str = _help("Site title: feed titles and the email's sender context.")
    base_url: str = _help("Absolute URL of the blog, e.g. https://example.com/.")
    description: str = _help("One-line description of the site, shown by feed readers.", "")
    language: str = _help("BCP 47 language tag of the content, e.g. zh-TW or en.", "en")
    timezone: str = _help("IANA time zone used for dates written without one, e.g. Asia/Taipei.", "UTC")
    content_dir: str = _help("Folder holding the Markdown posts.", "content")
    output_dir: str = _help("Folder the feeds are written to.", "public")
    cache_dir: str = _help("Folder for the build cache (safe to delete).", ".publisher-cache")
    templates_dir: str = _help("Folder whose templates override the built-in ones (same file names).", "")
    permalink: str = _help(
        "Post URL pattern; fields {section} {slug} {year} {month} {day}. "
        "Hugo's default: /{section}/{slug}/ (posts under content/posts/ -> /posts/{slug}/).",
        "/{section}/{slug}/",
    )
    feed_length: int = _help("Items per feed, newest first.", 20)
    summary_length: int = _help("Characters of text in an automatic summary (posts without description).", 240)
    author: AuthorSettings = _help("[author] table.", default_factory=AuthorSettings)


@dataclass(frozen=True)
class Config:
    """Validated settings with resolved paths; the one object every stage receives."""

    settings: Settings
    path: Path
    root: Path
    timezone: ZoneInfo
    base_url: str
    content_dir: Path
    output_dir: Path
    cache_dir: Path
    templates_dir: Path | None

    def __getattr__(self, name: str) -> Any:
        # Plain settings (title, language, feed_length...) read straight through.
        if name == "settings":  # not yet set (copy/unpickle): don't recurse
            raise AttributeError(name)
        return getattr(self.settings, name)


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate a config file; every problem names the key and the file."""
    path = Path(path) if path else Path(DEFAULT_CONFIG_NAME)
    if not path.is_file():
        hint = "" if path.name != DEFAULT_CONFIG_NAME else " (run from the site folder or pass --config PATH)"
        raise ConfigError(f"{path}: config file not found{hint}")
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    settings = _build(Settings, raw, path, "")
    return resolve(settings, path)


def resolve(settings: Settings, path: Path) -> Config:
    """Turn validated settings into a Config: parse the zone, absolutize paths."""
    root = path.resolve().parent

    def err(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{path}: '{key}': {msg}")

    try:
        tz = ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise err(
            "timezone", f"unknown time zone {settings.timezone!r}; use an IANA name such as Asia/Taipei"
        ) from None
    parts = urlsplit(settings.base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise err("base_url", f"{settings.base_url!r} is not an absolute http(s) URL, e.g. https://example.com/")
    base_url = settings.base_url if settings.base_url.endswith("/") else settings.base_url + "/"
    if not settings.title.strip():
        raise err("title", "must not be empty")
    if not re.fullmatch(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*", settings.language):
        raise err("language", f"{settings.language!r} is not a language tag such as en or zh-TW")
    if settings.feed_length < 1:
        raise err("feed_length", "must be at least 1")
    if settings.summary_length < 1:
        raise err("summary_length", "must be at least 1")
    fields = set(re.findall(r"\{([^{}]*)\}", settings.permalink))
    unknown = fields - set(PERMALINK_FIELDS)
    if unknown:
        raise err(
            "permalink",
            f"unknown field {{{sorted(unknown)[0]}}}; use {', '.join('{' + f + '}' for f in PERMALINK_FIELDS)}",
        )
    if "slug" not in fields:
        raise err("permalink", "must contain {slug} so every post gets its own URL")
    try:
        settings.permalink.format(**dict.fromkeys(PERMALINK_FIELDS, "x"))
    except (ValueError, IndexError, KeyError) as exc:
        raise err("permalink", f"{settings.permalink!r} is not a valid pattern ({exc})") from None
    if not settings.permalink.startswith("/"):
        raise err("permalink", "must start with '/'")
    templates = root / settings.templates_dir if settings.templates_dir else None
    if templates is not None and not templates.is_dir():
        raise err("templates_dir", f"folder {templates} does not exist")
    return Config(
        settings=settings,
        path=path.resolve(),
        root=root,
        timezone=tz,
        base_url=base_url,
        content_dir=(root / settings.content_dir).resolve(),
        output_dir=(root / settings.output_dir).resolve(),
        cache_dir=(root / settings.cache_dir).resolve(),
        templates_dir=templates,
    )


def _build(cls: type, raw: dict[str, Any], path: Path, prefix: str) -> Any:
    """Check a TOML table against a settings dataclass, naming any bad key."""
    hints = get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = prefix + key
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            raise ConfigError(f"{path}: unknown key '{name}'{hint}")
        values[key] = _check_type(hints[key], value, path, name)
    for f in known.values():
        if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{path}: missing key '{prefix}{f.name}' ({f.metadata['help']})")
    return cls(**values)


def _check_type(hint: Any, value: Any, path: Path, name: str) -> Any:
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: '{name}' must be a table ([{name}])")
        return _build(hint, value, path, name + ".")
    if get_origin(hint) is list:
        (item,) = get_args(hint)
        if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
            raise ConfigError(f"{path}: '{name}' must be a list of {item.__name__}")
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{path}: '{name}' must be {_describe(hint)}, not {type(value).__name__} {value!r}")
    return value


def _describe(hint: Any) -> str:
    return {str: "a string", int: "an integer", bool: "true or false", float: "a number"}.get(hint, str(hint))


def documented_keys(cls: type = Settings, prefix: str = "") -> list[tuple[str, str]]:
    """Every setting with its help text, for the README and `publisher config --help`."""
    out = []
    for f in dataclasses.fields(cls):
        hint = get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(hint):
            out += documented_keys(hint, prefix + f.name + ".")
        else:
            out.append((prefix + f.name, f.metadata["help"]))
    return out
