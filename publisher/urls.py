"""URL and path rules shared by posts and feeds, matching Hugo's so links keep working."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from functools import lru_cache
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


def permalink(base_url: str, pattern: str, *, slug: str, path: str, date: datetime) -> str:
    """Absolute, percent-encoded URL of a post from the configured pattern; `path` is its
    folders below content_dir ('' or e.g. 'en/post'), whose first is its section."""
    path = pattern.format(
        slug=slug,
        path=path,
        section=path.partition("/")[0],
        year=f"{date.year:04d}",
        month=f"{date.month:02d}",
        day=f"{date.day:02d}",
    )
    while "//" in path:
        path = path.replace("//", "/")
    return absolute(base_url, path)


def absolute(base_url: str, path: str) -> str:
    """Join a site-relative path onto base_url, percent-encoding non-ASCII characters and '#'."""
    return base_url + quote(path.lstrip("/"), safe="/%+~@.-_")


FEED_FILES = ("index.xml", "atom.xml", "feed.json")  # RSS, Atom, JSON Feed: Hugo's names


def feed_paths(key: str) -> list[str]:
    """Output paths of one feed family: the site's ("") or a term's ("tags/<term>")."""
    prefix = f"{key}/" if key else ""
    return [prefix + name for name in FEED_FILES]
