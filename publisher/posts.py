"""Find and load posts from a Hugo `content/` folder (their front matter: `front_matter`).

A post that can't be used becomes a list of `Problem`s (path:line: message) and never
stops the others.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
import unicodedata
from datetime import date, datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

from publisher import urls
from publisher.config import Config, Languages
from publisher.errors import PostError, Problem
from publisher.models import Post

if TYPE_CHECKING:
    from publisher.cascade import Cascade, Rule
    from publisher.front_matter import Parsed

MARKDOWN_SUFFIXES = (".md", ".markdown")
ENGLISH = Languages(frozenset({"en"}), "en", "en")  # Hugo's own default


def page_name(filename: str, languages: Languages) -> tuple[str, str] | None:
    """Hugo's page file naming: (name, language) of a Markdown file, None for any other file.
    `a.zh-cn.md` is page `a` in zh-cn when zh-cn is one of the site's language keys; any other
    dotted part stays in the name (`v1.2.md` is page `v1.2`), in the default language."""
    lower = filename.lower()
    if not lower.endswith(MARKDOWN_SUFFIXES):
        return None
    stem = filename[: filename.rindex(".")]
    name, dot, key = stem.rpartition(".")
    if dot and name and key in languages.keys:
        return name, key
    return stem, languages.default


class Source(NamedTuple):
    """A candidate post file found on disk, with what the build cache keys on.
    A NamedTuple of plain strings: one is made per file on every build."""

    path: str
    relpath: str
    size: int
    mtime_ns: int

    @property
    def stamp(self) -> tuple[int, int]:
        return (self.size, self.mtime_ns)


UNSTATED = -1
"""Source.size and mtime_ns of a file `discover(stat=False)` found but did not stat."""


class Found(NamedTuple):
    sources: list[Source]
    problems: list[Problem]
    other_languages: int  # pages in another of the site's languages: counted, never read
    sections: list[Source]  # section pages (`_index.md`) of this language: only their cascade is read


def discover(content_dir: Path, stat: bool = True, languages: Languages = ENGLISH) -> Found:
    """Every Markdown post of `languages.published` under content_dir, Hugo's way, sorted by path.

    With stat=False (a build with nothing cached to compare stamps against), sizes and
    mtimes are left UNSTATED for the parsing workers to fill in: `stamped` does it.

    Leaf bundles (`dir/index.md`, or `dir/index.<key>.md` for a language key) are posts and
    everything else in their folder is a resource; `_index.md` section pages are no posts (those
    of this language are returned apart, for their cascade); non-Markdown files are skipped; a
    symlink whose target lies outside content_dir is reported and never read. Pages in the
    site's other languages (`page_name`) are only counted. Plain strings and scandir only: this
    runs over every file on every build.
    """
    if not content_dir.is_dir():
        raise PostError([Problem(str(content_dir), None, "content folder not found; set content_dir in the config")])
    root = os.path.realpath(content_dir)
    found: list[Source] = []
    sections: list[Source] = []
    problems: list[Problem] = []
    other_languages = 0
    seen_dirs: set[str] = set()
    wanted = languages.published

    def inside(real: str) -> bool:
        return real == root or real.startswith(root + os.sep)

    def walk(directory: str, prefix: str) -> None:
        nonlocal other_languages
        real = os.path.realpath(directory)
        if real in seen_dirs:
            return
        seen_dirs.add(real)
        try:
            entries = list(os.scandir(directory))  # order comes from the final sort
        except OSError as exc:
            problems.append(Problem(display_path(directory), None, f"cannot read folder: {exc.strerror}"))
            return
        bundle: str | None = None  # this language's index file, when the folder is a leaf bundle
        if prefix:
            indexes = {}  # Hugo makes any index.*.md a bundle's page; an unknown key means the default language
            for e in entries:
                if e.name.startswith("index.") and (page := page_name(e.name, languages)):
                    indexes[e.name] = page[1] if page[0] == "index" else languages.default
            if indexes:
                ours = sorted(n for n, lang in indexes.items() if lang == wanted)
                other_languages += len(indexes) - len(ours)
                if not ours:
                    return  # a bundle with no page in this language: all of it is the others'
                bundle = min(ours, key=lambda n: n.count("."))  # index.md before index.en.md
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_symlink() and not inside(os.path.realpath(entry.path)):
                shown = display_path(entry.path)
                problems.append(Problem(shown, None, "symlink points outside content_dir; not read"))
                continue
            if bundle is not None and name != bundle:
                continue  # a leaf bundle's resources
            try:
                if entry.is_dir():
                    walk(entry.path, prefix + name + "/")
                    continue
                if name.startswith("_index."):  # a section's (or a term's) own page
                    page = page_name(name, languages)
                    if page is not None and page[1] == wanted and entry.is_file():
                        sections.append(make(Source, (entry.path, prefix + name, UNSTATED, UNSTATED)))
                    continue
                if name.count(".") == 1:  # most files: name.md, in the default language (page_name, made quick)
                    if not name.lower().endswith(MARKDOWN_SUFFIXES):
                        continue
                    language = languages.default
                elif (page := page_name(name, languages)) is not None:
                    language = page[1]
                else:
                    continue
                if language != wanted:
                    other_languages += 1
                    continue
                if not entry.is_file():  # reading a FIFO would wait forever
                    kind = (
                        "symlink to nothing" if entry.is_symlink() else "not a regular file (a FIFO, socket or device)"
                    )
                    problems.append(Problem(display_path(entry.path), None, f"{kind}; not read"))
                    continue
                if not stat:
                    found.append(make(Source, (entry.path, prefix + name, UNSTATED, UNSTATED)))
                    continue
                st = entry.stat()
            except OSError as exc:
                problems.append(Problem(display_path(entry.path), None, f"cannot read: {exc.strerror}"))
                continue
            found.append(make(Source, (entry.path, prefix + name, st.st_size, st.st_mtime_ns)))

    make = tuple.__new__  # NamedTuple's own __new__ is Python code, run here once per file
    walk(str(content_dir), "")
    found.sort(key=itemgetter(1))  # relpath
    sections.sort(key=itemgetter(1))
    return Found(found, problems, other_languages, sections)


def stamped(source: Source) -> Source:
    """The source with its size and mtime, statting it if discover did not."""
    if source.size != UNSTATED:
        return source
    try:
        st = os.stat(source.path)
    except OSError:
        return source  # reading it will report why
    return source._replace(size=st.st_size, mtime_ns=st.st_mtime_ns)


def read_text(source: Source, display: str) -> str:
    """UTF-8 (with or without BOM) text with Unix line endings."""
    try:
        with open(source.path, "rb", buffering=0) as f:  # one read, no buffer object
            data = f.read()
    except OSError as exc:
        raise PostError([Problem(display, None, f"cannot read: {exc.strerror}")]) from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")  # the C fast path; "utf-8-sig" goes through a Python codec
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PostError(
            [Problem(display, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8")]
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def load_post(source: Source, config: Config, cascade: Cascade | None = None) -> Post:
    """Validate one post's front matter (with what its sections' cascade hands down) into a
    Post; every problem found is reported at once."""
    from publisher.front_matter import split  # PyYAML: imported by the processes that parse

    display = display_path(source.path)
    return _to_post(source, split(read_text(source, display), display), config, display, cascade)


def load_post_and_body(source: Source, config: Config, cascade: Cascade | None = None) -> tuple[Post, str]:
    """The post and its Markdown body, from one read of the file."""
    from publisher.front_matter import split

    display = display_path(source.path)
    parsed = split(read_text(source, display), display)
    return _to_post(source, parsed, config, display, cascade), clean_text(parsed.body)


def line_of_match(path: str, pattern: str) -> int | None:
    """The line of a post file where `pattern` (a regex) first matches, for a message found after
    parsing (a ref, a shortcode); None when the file can't be read or nothing matches."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    m = re.search(pattern, text)
    return text.count("\n", 0, m.start()) + 1 if m else None


def display_path(path: str | os.PathLike[str]) -> str:
    """The path as the operator knows it: relative to the current folder when inside it.
    (Runs once per post on every parse: plain strings, no pathlib.)"""
    cwd = os.getcwd()
    text = os.fspath(path)
    return text[len(cwd) + 1 :] if text.startswith(cwd + os.sep) else text


class _Fields:
    """Reads front matter fields Hugo's way (keys case-insensitive), collecting problems."""

    def __init__(self, parsed: Parsed, tz: ZoneInfo, display: str):
        self.meta = {str(k).lower(): v for k, v in parsed.meta.items()}
        self.parsed = parsed
        self.tz = tz
        self.display = display
        self.problems: list[Problem] = []
        self.cascaded: dict[str, Rule] = {}  # keys whose value came from a section's cascade

    def inherit(self, inherited: dict[str, tuple[Any, Rule]]) -> None:
        """Take what a section's cascade hands down, for keys the post does not set itself."""
        for key, (value, rule) in inherited.items():
            if key not in self.meta:
                self.meta[key] = value
                self.cascaded[key] = rule

    def problem(self, key: str, message: str) -> None:
        rule = self.cascaded.get(key)
        if rule is not None:  # the value is the section page's: say where it is set
            self.problems.append(
                Problem(self.display, None, f"{message} (set by the cascade at {rule.origin}:{rule.line})")
            )
        else:
            self.problems.append(Problem(self.display, self.parsed.line_of(key), message))

    def first(self, *keys: str) -> tuple[str, Any]:
        for key in keys:
            value = self.meta.get(key)
            if value is not None and value != "":
                return key, value
        return keys[0], None

    def text(self, *keys: str) -> str:
        key, value = self.first(*keys)
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            self.problem(key, f"'{key}' must be text, not a {'list' if isinstance(value, list) else 'table'}")
            return ""
        return clean_line(str(value))

    def terms(self, key: str, taxonomy: bool = False, people: bool = False) -> tuple[str, ...]:
        """A list or single name; for a taxonomy, names with the same URL ("AI", "ai") are one.
        People may also be tables with a name (`author: {name: x, link: y}`, as LoveIt and FixIt
        write them)."""
        value = self.meta.get(key)
        if value is None or value == "":
            return ()
        if isinstance(value, (str, int, float)) or (people and isinstance(value, dict)):
            value = [value]
        if people and isinstance(value, list):
            # A table's name; none (FixIt's archetype leaves `name:` empty) is no author
            value = [v.get("name", v) if isinstance(v, dict) and "name" in v else v for v in value]
            value = [v for v in value if v is not None and v != "" and not isinstance(v, bool)]
            # A theme's `author: <a href=...>Name</a>` is a name with markup: feeds show text only
            value = [_TAG.sub("", v) if isinstance(v, str) and "<" in v else v for v in value]
        if not isinstance(value, list) or [v for v in value if isinstance(v, (dict, list))]:
            tables = " (or tables with a name)" if people else ""
            self.problem(key, f"'{key}' must be a list of names{tables} or a single name")
            return ()
        out: dict[str, str] = {}
        for v in value:
            # Interned: thousands of posts share a few dozen names, and the build cache's
            # index then stores (and loads) each name once.
            name = sys.intern(clean_line(v if type(v) is str else str(v)))
            path = urls.urlize(name) if name else ""
            if path:
                out.setdefault(path if taxonomy else name, name)
            elif name:
                self.problem(
                    key,
                    f"{key[:-1] if key.endswith('s') else key} {name!r} has no letters or digits to build its URL from",
                )
        return tuple(out.values())

    def when(self, *keys: str) -> datetime | None:
        key, value = self.first(*keys)
        if value is None:
            return None
        try:
            return parse_date(value, self.tz)
        except ValueError:
            self.problem(key, f"'{key}' is not a date: {value!r}; write e.g. 2026-01-18 or 2026-01-18T09:30:00+08:00")
            return None

    def url(self, base_url: str) -> str:
        """Hugo's `url`: the page's own path from the site root, instead of the permalink pattern."""
        path = self.text("url")
        if not path:
            return ""
        if "://" in path or path.startswith("//"):
            self.problem("url", f"'url' must be a path from the site root, like /about/, not {path!r}")
            return ""
        if "." not in path.rpartition("/")[2]:
            path = path.rstrip("/") + "/"  # Hugo serves /about as the folder /about/; about.html stays a file
        return urls.absolute(base_url, path)

    def listed(self) -> bool:
        """False for what Hugo never lists, so never in a feed or an email: a headless bundle, or
        build options (`build`, or the older `_build`) with list never/local or render never/link."""
        if self.meta.get("headless") is not None and self.flag("headless"):
            return False
        key, options = self.first("build", "_build")
        if options is None:
            return True
        if not isinstance(options, dict):
            self.problem(key, f"'{key}' must be a table of build options, like {{list: never}}")
            return True
        options = {str(k).lower(): v for k, v in options.items()}
        hidden = {"list": ("never", "local", False), "render": ("never", "link", False)}
        known = {"list": ("always", True), "render": ("always", True), "publishresources": (True, False)}
        for option, value in options.items():
            value = value.lower() if isinstance(value, str) else value
            if option in hidden and value in hidden[option]:
                return False
            if option not in known or value not in (*known[option], *hidden.get(option, ())):
                self.problem(key, f"'{key}' has an unknown option {option}: {value!r}; see Hugo's build options")
        return True

    def flag(self, key: str) -> bool:
        value = self.meta.get(key, False)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
            return value.strip().lower() in ("true", "yes")
        self.problem(key, f"'{key}' must be true or false, not {value!r}")
        return True  # an unreadable draft flag must never publish


_TAG = re.compile(r"<[^<>]*>")
NOT_A_POST = " (or, if this page is not a post, build: {list: never}; or list the post sections in main_sections)"


def _to_post(source: Source, parsed: Parsed, config: Config, display: str, cascade: Cascade | None) -> Post:
    f = _Fields(parsed, config.timezone, display)
    if cascade is not None:
        f.inherit(cascade.inherited(source.relpath, config.hugo_languages.published))
        if where := cascade.held_back_by(source.relpath):
            f.problems.append(Problem(display, None, f"held back until the cascade at {where} can be read (see there)"))
    *folders, filename = source.relpath.split("/")  # relpath is always '/'-separated
    name = (page_name(filename, config.hugo_languages) or (filename, ""))[0]
    if folders and filename.startswith("index."):  # a leaf bundle (discover's rule): named by its folder
        name = folders.pop()
    path = "/".join(urls.urlize(folder) for folder in folders)
    section = path.partition("/")[0]
    main = config.main_section_set
    listed = f.listed() and (not main or section in main)  # like a theme's list of Hugo's mainSections
    if parsed.missing and listed:
        hint = " (or, if this page is not a post, list the post sections in main_sections)"
        raise PostError([*f.problems, Problem(display, parsed.fm_line, parsed.missing + hint)])
    title = f.text("title")
    if not title and not f.problems and listed:  # a title that isn't text was reported already
        has_key = "title" in f.meta and f.meta["title"] not in (None, "")
        f.problem(
            "title",
            "'title' is empty once control characters are removed"
            if has_key
            else "front matter has no 'title': add a line like title: \"My post\"" + NOT_A_POST,
        )
    dates = ("date", "publishdate", "pubdate", "published", "lastmod", "modified")  # Hugo's order for .Date
    d = f.when(*dates)
    if d is None and f.first(*dates)[1] is None:
        if listed:
            f.problem(
                "date", "front matter has no 'date': add a line like date: 2026-01-18T09:00:00+08:00" + NOT_A_POST
            )
        else:  # a page Hugo never lists needs no date (nor a title): it is only counted
            d = datetime(1970, 1, 1, tzinfo=config.timezone)
    publish_date = f.when("publishdate", "pubdate", "published") or d
    lastmod = f.when("lastmod", "modified") or d
    expiry = f.when("expirydate", "unpublishdate")
    draft = f.flag("draft")
    given = f.text("slug")
    raw_slug = given or name
    slug = urls.urlize(raw_slug)
    if not slug:
        f.problem("slug", f"slug {raw_slug!r} has no letters or digits to build a URL from")
    url = f.url(config.base_url)
    description = f.text("description", "summary")
    tags = f.terms("tags", taxonomy=True)
    categories = f.terms("categories", taxonomy=True)
    authors = f.terms("authors", people=True) or f.terms("author", people=True)
    source_url = f.text("source_url")
    source_name = f.text("source_name")
    images = f.terms("images")
    cover = f.meta.get("cover")
    if isinstance(cover, dict):
        cover = cover.get("image")
    if isinstance(cover, str) and cover.strip():
        images = (cover.strip(), *images)
    link = config.section_permalinks.get(section, config.permalink)
    page = urls.PageName(slug, slug if given else "", name, title, path)
    if not url and title and link.needs_title(bool(given)) and not urls.urlize(title):
        f.problem("title", "the permalink makes this post's URL from its title, which has no letters or digits")
    if f.problems:
        raise PostError(f.problems)
    assert d is not None and publish_date is not None and lastmod is not None
    return Post(
        path=source.path,
        relpath=source.relpath,
        slug=slug,
        section=section,
        url=url or urls.permalink(config.site_url, link, page, d),
        title=title,
        date=d,
        publish_date=publish_date,
        lastmod=max(lastmod, d),
        expiry_date=expiry,
        draft=draft,
        description=description,
        tags=tags,
        categories=categories,
        authors=authors,
        source_url=source_url,
        source_name=source_name,
        images=images,
        params=f.meta,
        listed=listed,
    )


def parse_date(value: Any, tz: ZoneInfo) -> datetime:
    """A front matter date as an aware datetime; naive values are read in the site's zone."""
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        try:
            result = datetime.fromisoformat(text)
        except ValueError:
            import email.utils  # rarely needed: only for RFC 2822 dates

            try:
                result = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                raise ValueError(text) from None
    else:
        raise ValueError(repr(value))
    return result if result.tzinfo is not None else result.replace(tzinfo=tz)


_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean_line(text: str) -> str:
    """One line of text safe for XML and email headers: no CR/LF or other control characters."""
    if text.isprintable() and unicodedata.is_normalized("NFC", text) and text.strip() == text and "  " not in text:
        return text  # the common case, checked in C
    text = unicodedata.normalize("NFC", text)
    return " ".join(_CONTROL_LINE.sub(" ", text).split())


def clean_text(text: str) -> str:
    """Body text with the control characters XML can't carry removed."""
    return _XML_INVALID.sub("", text)
