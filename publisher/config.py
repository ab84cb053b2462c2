"""The site configuration, `publisher.toml`: declared once, validated once, passed everywhere.

Each setting is a dataclass field with a default and a help text; `load_config` reads the
TOML file, rejects unknown keys and wrong types by name, and resolves paths against the
folder of the config file so the site works from any current directory.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from publisher.errors import ConfigError
from publisher.urls import TAXONOMIES, TERM_FIELDS, Permalink, compile_permalink, urlize

DEFAULT_CONFIG_NAME = "publisher.toml"
DEFAULT_CACHE_DIR = ".publisher-cache"


def _help(text: str, default: Any = dataclasses.MISSING, key: str = "", **kw: Any) -> Any:
    """A setting: its help text, its default, and its TOML key when that isn't the field name."""
    metadata = {"help": text, "key": key}
    if default is dataclasses.MISSING and "default_factory" not in kw:
        return field(metadata=metadata, **kw)
    return field(default=default, metadata=metadata, **kw)


def _key(f: dataclasses.Field) -> str:
    return f.metadata.get("key") or f.name


@dataclass(frozen=True)
class AuthorSettings:
    name: str = _help("Default author of every post, shown in feeds.", "")
    email: str = _help("Author's address: RSS managingEditor and the Atom author (optional).", "")


@dataclass(frozen=True)
class SmtpSettings:
    host: str = _help("SMTP relay host.", "localhost")
    port: int = _help("SMTP port (587 for starttls, 465 for tls, 25 for none).", 587)
    security: str = _help("none, starttls or tls (implicit TLS).", "starttls")
    username: str = _help("SMTP AUTH user; the password comes from PUBLISHER_SMTP_PASSWORD.", "")
    timeout: float = _help("Seconds to wait for the server before giving up on a connection.", 30.0)
    connections: int = _help("SMTP connections used in parallel (in all, shared by the processes).", 4)
    processes: int = _help("Sending processes for large campaigns; 0 = one per CPU core.", 0)
    rate_limit: str = _help('Most messages sent, e.g. "10/s", "500/m" or "2000/h"; empty for no limit.', "")
    helo: str = _help("Name to announce in EHLO (default: this machine's name).", "")


@dataclass(frozen=True)
class NewsletterSettings:
    sender: str = _help('From header with display name, e.g. "Blog <news@example.com>".', "", key="from")
    reply_to: str = _help("Reply-To address (optional).", "")
    unsubscribe_url: str = _help("Base URL of the unsubscribe endpoint; a per-subscriber signed token is appended.", "")
    unsubscribe_mailto: str = _help("Address for mailto: unsubscribes in List-Unsubscribe (optional).", "")
    full_content: bool = _help("Email the whole post (true) or its summary with a read-more link (false).", True)
    dkim_selector: str = _help("DKIM selector; with dkim_key_file, every message is signed.", "")
    dkim_key_file: str = _help("PEM private key for DKIM, kept outside the repository.", "")
    auto_send: bool = _help("`publisher run` sends new campaigns itself (else they wait for `publisher send`).", False)
    confirm_hours: int = _help("Hours a subscription's confirmation link stays valid.", 72)
    max_attempts: int = _help("Tries per message on temporary (4xx) failures before giving up.", 8)
    bounce_limit: int = _help("Permanent (5xx) failures after which a subscriber is marked bounced.", 1)


@dataclass(frozen=True)
class DaemonSettings:
    rescan_minutes: float = _help("`publisher run` rescans content_dir this often even without file events.", 5.0)
    debounce_seconds: float = _help("Wait until a changed file has been still this long before reading it.", 1.0)
    retry_minutes: float = _help("How often `publisher run` retries deferred deliveries (with auto_send).", 5.0)


@dataclass(frozen=True)
class ServerSettings:
    host: str = _help("Address `publisher serve` listens on (behind a proxy: 127.0.0.1).", "127.0.0.1")
    port: int = _help("Port `publisher serve` listens on.", 8080)
    public_url: str = _help(
        "Public base URL of these endpoints (for confirmation links), e.g. https://example.com/newsletter/.", ""
    )
    serve_feeds: bool = _help("Also serve output_dir (feeds) with ETag/Last-Modified and 304s.", True)
    subscribe_rate: str = _help('Subscriptions accepted per client address, e.g. "5/h".', "10/h")
    trusted_proxies: str = _help("Comma-separated proxy addresses whose X-Forwarded-For is believed.", "127.0.0.1")


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = _help("SQLAlchemy URL; default: a SQLite file publisher.sqlite3 beside the config.", "")


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
    cache_dir: str = _help(
        "Folder for the build cache (safe to delete); a second language's is .publisher-cache-<key>.", DEFAULT_CACHE_DIR
    )
    templates_dir: str = _help("Folder whose templates override the built-in ones (same file names).", "")
    permalink: str = _help(
        "Post URL pattern; fields {path} {section} {slug} {title} {filename} {year} {month} {day}, or Hugo's "
        ":tokens. Hugo's default: /{path}/{slug}/ (content/posts/a.md -> /posts/a/).",
        "/{path}/{slug}/",
    )
    permalinks: dict[str, Any] = _help(
        "Per-section patterns, as Hugo's [permalinks] table (copy it): section = pattern.", default_factory=dict
    )
    main_sections: list[str] = _help(
        "Sections (first folders below content_dir) whose pages are posts, as Hugo's mainSections; "
        "pages elsewhere (about, contact, search) are unlisted and need no title or date. Empty: every page.",
        default_factory=list,
    )
    languages: list[str] = _help(
        "Hugo's language keys (its [languages] table), defaultContentLanguage first: a file name.<key>.md "
        "is in that language, a file without a known key in the first.",
        default_factory=lambda: ["en"],
    )
    own_content_dir: bool = _help(
        "content_dir is this language's own folder (Hugo's per-language contentDir): its files without a "
        "language key are in content_language.",
        False,
    )
    content_language: str = _help(
        "Which of `languages` this site publishes (default: the first); the others' files are counted, "
        "not published. Any but the first is published under /<key>/, as Hugo does.",
        "",
    )
    emoji: bool = _help("Hugo's enableEmoji: :smile: in Markdown becomes the emoji itself.", False)
    feed_length: int = _help("Items per feed, newest first.", 20)
    summary_length: int = _help("Characters of text in an automatic summary (posts without description).", 240)
    author: AuthorSettings = _help("[author] table.", default_factory=AuthorSettings)
    smtp: SmtpSettings = _help("[smtp] table.", default_factory=SmtpSettings)
    newsletter: NewsletterSettings = _help("[newsletter] table.", default_factory=NewsletterSettings)
    database: DatabaseSettings = _help("[database] table.", default_factory=DatabaseSettings)
    daemon: DaemonSettings = _help("[daemon] table.", default_factory=DaemonSettings)
    server: ServerSettings = _help("[server] table.", default_factory=ServerSettings)
    websub_hubs: list[str] = _help(
        "WebSub hub URLs to ping when a feed changes (declared in every feed).", default_factory=list
    )


class Languages(NamedTuple):
    """Hugo's multilingual file naming, as far as one site (one language) needs it."""

    keys: frozenset[str]  # every language key of the Hugo site, lower case
    default: str  # the language of files named without a key (Hugo's defaultContentLanguage, or own_content_dir's)
    published: str  # the one this site publishes


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
    database_url: str = ""
    dkim_key_file: Path | None = None
    hugo_languages: Languages = Languages(frozenset({"en"}), "en", "en")
    permalink: Permalink = Permalink("/{path}/{slug}/", frozenset({"path", "slug"}))  # of sections not below
    section_permalinks: dict[str, Permalink] = field(default_factory=dict)  # by Post.section
    term_permalinks: dict[str, Permalink] = field(default_factory=dict)  # by taxonomy: where its term feeds live
    main_section_set: frozenset[str] = frozenset()  # main_sections as Post.section spells them
    language_prefix: str = ""  # "<key>/" for a language other than the default: where its posts and feeds live

    @property
    def site_url(self) -> str:
        """The root of this site's posts and feeds: base_url, plus the language prefix."""
        return self.base_url + self.language_prefix

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
        text = path.read_bytes().decode("utf-8-sig")
        raw = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    settings = _build(Settings, raw, _Where(path, text), "")
    return resolve(settings, path)


class _Where(NamedTuple):
    """The config file and its text: a bad key's message names its line."""

    path: Path
    text: str

    def at(self, name: str) -> str:
        """`path:line` of a dotted key (`smtp.host`), or just the path when it can't be found."""
        *tables, key = name.split(".")
        lines = self.text.split("\n")
        start = 0
        if tables:
            header = re.compile(r"\s*\[\s*" + r"\s*\.\s*".join(re.escape(t) for t in tables) + r"\s*\]")
            start = next((i + 1 for i, line in enumerate(lines) if header.match(line)), -1)
            if start < 0:
                return str(self.path)  # an inline table or dotted keys: no line to point at
        assignment = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for i in range(start, len(lines)):
            if i > start and tables and lines[i].lstrip().startswith("["):
                break
            if assignment.match(lines[i]):
                return f"{self.path}:{i + 1}"
        return str(self.path)


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
    try:
        permalink = compile_permalink(settings.permalink)
    except ValueError as exc:
        raise err("permalink", str(exc)) from None
    sections: dict[str, Permalink] = {}
    terms: dict[str, tuple[str, Any]] = {}  # taxonomy: (key, pattern); other taxonomies have no feeds here
    for section, pattern in settings.permalinks.items():
        if isinstance(pattern, dict):  # Hugo 0.120's [permalinks.page], [permalinks.term] (.section...: list pages)
            if section == "page":
                sections.update({urlize(k): _permalink(err, f"permalinks.page.{k}", v) for k, v in pattern.items()})
            elif section == "term":
                terms.update({k: (f"permalinks.term.{k}", v) for k, v in pattern.items() if k in TAXONOMIES})
            continue
        sections[urlize(section)] = _permalink(err, f"permalinks.{section}", pattern)
        if section in TAXONOMIES:  # Hugo's older form: a taxonomy's key sets its terms' URLs too
            terms.setdefault(section, (f"permalinks.{section}", pattern))
    term_permalinks = {taxonomy: _term_permalink(err, key, pattern) for taxonomy, (key, pattern) in terms.items()}
    keys = [key.lower() for key in settings.languages]
    for key in keys:
        if not re.fullmatch(r"[a-z0-9]+(?:[-_][a-z0-9]+)*", key):
            raise err("languages", f"{key!r} is not a Hugo language key such as en or zh-cn")
    if not keys or len(set(keys)) < len(keys):
        raise err("languages", "list each of the site's language keys once, the default content language first")
    language = settings.content_language.lower() or keys[0]
    if language not in keys:
        raise err("content_language", f"{settings.content_language!r} is not one of languages ({', '.join(keys)})")
    prefix = "" if language == keys[0] else language + "/"
    for section in settings.main_sections:
        if not urlize(section.strip("/")) or "/" in section.strip("/"):
            raise err(
                "main_sections", f"{section!r} is not a section: name a folder right below content_dir, e.g. posts"
            )
    templates = root / settings.templates_dir if settings.templates_dir else None
    if templates is not None and not templates.is_dir():
        raise err("templates_dir", f"folder {templates} does not exist")
    smtp, news = settings.smtp, settings.newsletter
    if smtp.security not in ("none", "starttls", "tls"):
        raise err("smtp.security", f"{smtp.security!r} is not one of none, starttls, tls")
    if not 0 < smtp.port < 65536:
        raise err("smtp.port", f"{smtp.port} is not a TCP port")
    if smtp.connections < 1:
        raise err("smtp.connections", "must be at least 1")
    if smtp.processes < 0:
        raise err("smtp.processes", "must be 0 (one per CPU core) or more")
    if smtp.timeout <= 0:
        raise err("smtp.timeout", "must be a positive number of seconds")
    try:
        rate_limit(smtp.rate_limit)
    except ValueError:
        raise err("smtp.rate_limit", f'{smtp.rate_limit!r} is not like "10/s", "500/m" or "2000/h"') from None
    if news.sender:
        # here, not at the top: every command loads the config, few mail
        from email.errors import ObsoleteHeaderDefect
        from email.headerregistry import HeaderRegistry

        header = HeaderRegistry()("From", news.sender)
        invalid = [d for d in header.defects if not isinstance(d, ObsoleteHeaderDefect)]  # "Dr. Who" is fine
        if len(header.addresses) != 1 or "@" not in header.addresses[0].addr_spec or invalid:
            raise err(
                "newsletter.from",
                f"{news.sender!r} is not one address such as 'Blog <news@example.com>' (a name with spaces "
                "goes before the address in <>)",
            )
    if news.unsubscribe_url and urlsplit(news.unsubscribe_url).scheme not in ("http", "https"):
        raise err("newsletter.unsubscribe_url", "must be an absolute https:// URL")
    if news.max_attempts < 1:
        raise err("newsletter.max_attempts", "must be at least 1")
    if news.bounce_limit < 1:
        raise err("newsletter.bounce_limit", "must be at least 1")
    if bool(news.dkim_selector) != bool(news.dkim_key_file):
        raise err("newsletter.dkim_key_file", "set both dkim_selector and dkim_key_file, or neither")
    for hub in settings.websub_hubs:
        if urlsplit(hub).scheme not in ("http", "https"):
            raise err("websub_hubs", f"{hub!r} is not an http(s) URL")
    server = settings.server
    if server.public_url and urlsplit(server.public_url).scheme not in ("http", "https"):
        raise err("server.public_url", "must be an absolute http(s) URL")
    try:
        rate_limit(server.subscribe_rate)
    except ValueError:
        raise err("server.subscribe_rate", f'{server.subscribe_rate!r} is not like "5/m" or "10/h"') from None
    if settings.daemon.rescan_minutes <= 0 or settings.daemon.retry_minutes <= 0:
        raise err("daemon", "intervals must be positive")
    dkim_key = (root / news.dkim_key_file) if news.dkim_key_file else None
    # A second language's site keeps its own cache and subscribers unless told otherwise:
    # sharing them would make each build delete the other's feeds, and mail both to everyone.
    suffix = "-" + language if prefix else ""
    cache_dir = settings.cache_dir + (suffix if settings.cache_dir == DEFAULT_CACHE_DIR else "")
    database_url = settings.database.url or f"sqlite:///{root / f'publisher{suffix}.sqlite3'}"
    return Config(
        settings=settings,
        path=path.resolve(),
        root=root,
        timezone=tz,
        base_url=base_url,
        content_dir=(root / settings.content_dir).resolve(),
        output_dir=(root / settings.output_dir).resolve(),
        cache_dir=(root / cache_dir).resolve(),
        templates_dir=templates,
        database_url=database_url,
        dkim_key_file=dkim_key,
        hugo_languages=Languages(frozenset(keys), language if settings.own_content_dir else keys[0], language),
        permalink=permalink,
        section_permalinks=sections,
        term_permalinks=term_permalinks,
        main_section_set=frozenset(urlize(section.strip("/")) for section in settings.main_sections),
        language_prefix=prefix,
    )


def _term_permalink(err: Callable[[str, str], ConfigError], key: str, pattern: Any) -> Permalink:
    link = _permalink(err, key, pattern)
    if not link.fields <= TERM_FIELDS:
        raise err(key, f"a term's URL cannot use {', '.join(sorted(link.fields - TERM_FIELDS))}; use :slug or :section")
    if not link.pattern.endswith("/"):
        raise err(key, "a term's URL is a folder (its feeds are inside it): end the pattern with /")
    return link


def _permalink(err: Callable[[str, str], ConfigError], key: str, pattern: Any) -> Permalink:
    if not isinstance(pattern, str):
        raise err(key, f'must be a pattern string such as "/posts/:slug/", not {pattern!r}')
    try:
        return compile_permalink(pattern)
    except ValueError as exc:
        raise err(key, str(exc)) from None


def rate_limit(text: str) -> float | None:
    """'10/s', '500/m', '2000/h' -> messages per second; '' -> None (no limit)."""
    if not text.strip():
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*/\s*([smh])\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(text)
    return float(m.group(1)) / {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def _build(cls: type, raw: dict[str, Any], where: _Where, prefix: str) -> Any:
    """Check a TOML table against a settings dataclass, naming every bad key (and its line)."""
    hints = get_type_hints(cls)
    known = {_key(f): f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in raw.items():
        name = prefix + key
        if key not in known:
            import difflib

            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            problems.append(f"{where.at(name)}: unknown key '{name}'{hint}")
            continue
        f = known[key]
        try:
            values[f.name] = _check_type(hints[f.name], value, where, name)
        except ConfigError as exc:
            problems.append(str(exc))
    for key, f in known.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and key not in raw:  # (one given with a bad value is reported above)
            problems.append(f"{where.path}: missing key '{prefix}{key}' ({f.metadata['help']})")
    if problems:
        raise ConfigError("\n".join(dict.fromkeys(problems)))
    return cls(**values)


def _check_type(hint: Any, value: Any, where: _Where, name: str) -> Any:
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{where.at(name)}: '{name}' must be a table ([{name}])")
        return _build(hint, value, where, name + ".")
    if get_origin(hint) is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where.at(name)}: '{name}' must be a table ([{name}])")
        return value
    if get_origin(hint) is list:
        (item,) = get_args(hint)
        if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
            raise ConfigError(f"{where.at(name)}: '{name}' must be a list of {item.__name__}")
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{where.at(name)}: '{name}' must be {_describe(hint)}, not {type(value).__name__} {value!r}")
    return value


def _describe(hint: Any) -> str:
    return {str: "a string", int: "an integer", bool: "true or false", float: "a number"}.get(hint, str(hint))


def documented_keys(cls: type = Settings, prefix: str = "") -> list[tuple[str, str]]:
    """Every setting with its help text, for the README and `publisher config --help`."""
    out = []
    for f in dataclasses.fields(cls):
        hint = get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(hint):
            out += documented_keys(hint, prefix + _key(f) + ".")
        else:
            out.append((prefix + _key(f), f.metadata["help"]))
    return out
