"""URL and path rules shared by posts and feeds, matching Hugo's so links keep working."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote

_ALLOWED_PUNCT = set("._#+~-@")


_CLEAN_ASCII = re.compile(r"[a-z0-9._#+~@-]*")


@lru_cache(maxsize=65536)  # terms repeat across thousands of posts
def urlize(text: str) -> str:
    """Hugo's term/slug to path rule: lower case, spaces to hyphens, CJK kept, unsafe removed.

    Unlike Hugo, '/' and '\\' are dropped and leading dots stripped, so a term can never
    name a path outside its folder.
    """
    lower = text.lower()
    if lower.isascii() and _CLEAN_ASCII.fullmatch(lower):
        return lower.lstrip(".")  # already a path (most file-name slugs): what the loop would give
    return _urlize_chars(lower)


def _urlize_chars(lower: str) -> str:
    out: list[str] = []
    pending_hyphen = was_hyphen = False
    for ch in lower:
        cat = unicodedata.category(ch)
        if ch in _ALLOWED_PUNCT or cat[0] in "LM" or cat == "Nd":
            was_hyphen = ch == "-"
            if pending_hyphen and not was_hyphen:
                out.append("-")
            pending_hyphen = False
            out.append(ch)
        elif out and not was_hyphen and ch.isspace():
            pending_hyphen = True
    return "".join(out).lstrip(".")


# Hugo's permalink tokens (its [permalinks] table) as this project's {fields}. Hugo's :slug
# falls back to the title, and its :sections to the folder path (Hugo counts only folders
# with an _index.md; here every folder counts).
HUGO_TOKENS = {
    "year": "year",
    "month": "month",
    "monthname": "monthname",
    "day": "day",
    "weekday": "weekday",
    "weekdayname": "weekdayname",
    "yearday": "yearday",
    "section": "section",
    "sections": "path",
    "title": "title",
    "slug": "slug_or_title",
    "filename": "filename",
    "contentbasename": "filename",
    "slugorfilename": "slug",
    "slugorcontentbasename": "slug",
}
PERMALINK_FIELDS = ("path", "section", "slug", "title", "filename", "year", "month", "day")  # documented
UNIQUE_FIELDS = {"slug", "slug_or_title", "title", "filename"}  # one of them tells posts apart


class Permalink(NamedTuple):
    """A checked permalink pattern: a str.format pattern and the fields it uses."""

    pattern: str
    fields: frozenset[str]

    def needs_title(self, has_slug: bool) -> bool:
        """Whether a post's URL is made from its title (Hugo's :title, or :slug without a slug)."""
        return "title" in self.fields or ("slug_or_title" in self.fields and not has_slug)


class PageName(NamedTuple):
    """What a post's URL can be made of: `slug` (urlized) is the front matter slug or else
    `name`, the file (or bundle folder) name; `given` the front matter slug alone; `path` the
    urlized folders below content_dir ('' or e.g. 'en/post'), whose first is the section."""

    slug: str
    given: str
    name: str
    title: str
    path: str


_VALUES: dict[str, Callable[[PageName, datetime], str]] = {
    "slug": lambda p, d: p.slug,
    "path": lambda p, d: p.path,
    "section": lambda p, d: p.path.partition("/")[0],
    "title": lambda p, d: urlize(p.title),
    "slug_or_title": lambda p, d: p.given or urlize(p.title),
    "filename": lambda p, d: urlize(p.name),
    "year": lambda p, d: f"{d.year:04d}",
    "month": lambda p, d: f"{d.month:02d}",
    "monthname": lambda p, d: d.strftime("%B"),
    "day": lambda p, d: f"{d.day:02d}",
    "weekday": lambda p, d: str(d.isoweekday() % 7),
    "weekdayname": lambda p, d: d.strftime("%A"),
    "yearday": lambda p, d: str(d.timetuple().tm_yday),
}


def compile_permalink(pattern: str) -> Permalink:
    """A permalink pattern in this project's {fields} or Hugo's :tokens, checked; ValueError
    says what is wrong, for the config's error."""

    def token(m: re.Match[str]) -> str:
        if m.group(1) not in HUGO_TOKENS:
            raise ValueError(f"unknown Hugo token :{m.group(1)}; use {', '.join(':' + t for t in HUGO_TOKENS)}")
        return "{" + HUGO_TOKENS[m.group(1)] + "}"

    compiled = re.sub(r":([a-z]+)", token, pattern)
    fields = set(re.findall(r"\{([^{}]*)\}", compiled))
    unknown = fields - set(_VALUES)
    if unknown:
        known = ", ".join("{" + f + "}" for f in PERMALINK_FIELDS)
        raise ValueError(f"unknown field {{{sorted(unknown)[0]}}}; use {known} or Hugo's :tokens")
    if not fields & UNIQUE_FIELDS:
        raise ValueError("must contain {slug} (or Hugo's :slug, :title or :filename) so every post gets its own URL")
    try:
        compiled.format(**dict.fromkeys(_VALUES, "x"))
    except (ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"{pattern!r} is not a valid pattern ({exc})") from None
    if not compiled.startswith("/"):
        compiled = "/" + compiled  # as Hugo reads :contentbasename
    if "." not in compiled.rpartition("/")[2]:
        compiled = compiled.rstrip("/") + "/"  # Hugo serves /:year/:slug as a folder too; /:slug.html is a file
    return Permalink(compiled, frozenset(fields))


def permalink(base_url: str, link: Permalink, page: PageName, date: datetime) -> str:
    """Absolute, percent-encoded URL of a post."""
    path = link.pattern.format(**{field: _VALUES[field](page, date) for field in link.fields})
    while "//" in path:
        path = path.replace("//", "/")
    return absolute(base_url, path)


def absolute(base_url: str, path: str) -> str:
    """Join a site-relative path onto base_url, percent-encoding non-ASCII characters and '#'."""
    return base_url + quote(path.lstrip("/"), safe="/%+~@.-_")


TAXONOMIES = ("tags", "categories")  # Hugo's default taxonomies: a feed family per term
# What a term's URL can be made of (Hugo's term pages): its name (urlized), its taxonomy as
# the section, and the date of its newest post
TERM_FIELDS = frozenset(
    {"slug", "slug_or_title", "title", "filename", "section", "path"}
    | {"year", "month", "monthname", "day", "weekday", "weekdayname", "yearday"}
)


def term_path(link: Permalink, taxonomy: str, key: str, newest: float, tz: tzinfo) -> str:
    """Where a term's page and feeds live under a [permalinks] pattern, e.g. "topic/ai-晶片"."""
    page = PageName(slug=key, given="", name=key, title=key, path=taxonomy)
    date = datetime.fromtimestamp(newest, tz)
    path = link.pattern.format(**{field: _VALUES[field](page, date) for field in link.fields})
    return "/".join(part for part in path.split("/") if part)


FEED_FILES = ("index.xml", "atom.xml", "feed.json")  # RSS, Atom, JSON Feed: Hugo's names


def feed_paths(key: str) -> list[str]:
    """Output paths of one feed family: the site's ("") or a term's ("tags/<term>")."""
    prefix = f"{key}/" if key else ""
    return [prefix + name for name in FEED_FILES]
