"""RSS 2.0, Atom 1.0 and JSON Feed 1.1 files; the only importer of feedgen.

Output is a pure function of the items (no clock reads: `lastBuildDate`/`updated` are the
newest item's date), so an unchanged site yields byte-identical files, and files are only
replaced, atomically, when their bytes change.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator

from publisher import __version__, urls
from publisher.config import Config
from publisher.models import FeedSpec, RenderedPost

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def render_feeds(
    spec: FeedSpec, items: Sequence[RenderedPost], config: Config, hubs: Iterable[str] = ()
) -> dict[str, bytes]:
    """The three documents of a feed family, keyed by output path."""
    paths = dict(zip(("rss", "atom", "json"), urls.feed_paths(spec.key), strict=True))
    self_urls = {fmt: urls.absolute(config.base_url, p) for fmt, p in paths.items()}
    # The newest item's date, so an unchanged site writes the same bytes. A feed with no items
    # yet (a new blog of drafts) is dated when it was written: readers showed 1970 before.
    updated = max((i.post.lastmod for i in items), default=None) or (spec.built or EPOCH).replace(microsecond=0)
    hubs = list(hubs or config.settings.websub_hubs)
    # One generator for both XML formats: the entries are the costly part, and they are the
    # same; only the feed's own links differ (feedgen writes the last link() as RSS <link>).
    fg = _feed(spec, items, config, updated, hubs)
    out = {}
    for fmt in ("rss", "atom"):
        links = [{"href": self_urls[fmt], "rel": "self", "type": FEED_TYPES[fmt]}]
        if fmt == "atom":
            links += [{"href": hub, "rel": "hub"} for hub in hubs]
        links.append({"href": spec.page_url, "rel": "alternate", "type": "text/html"})
        fg.link(links, replace=True)
        out[paths[fmt]] = fg.rss_str(pretty=True) if fmt == "rss" else fg.atom_str(pretty=True)
    out[paths["json"]] = _json_feed(spec, items, config, self_urls["json"], hubs)
    return out


ATOM_NS = "http://www.w3.org/2005/Atom"
FEED_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}


class _HubLinks(BaseExtension):
    """feedgen extension: WebSub `<atom:link rel="hub">` in RSS (feedgen writes only the
    self link there; in Atom, hub links come from `link()` itself)."""

    def __init__(self) -> None:
        self.hubs: list[str] = []

    def extend_ns(self) -> dict[str, str]:
        return {"atom": ATOM_NS}

    def extend_rss(self, rss_feed: Any) -> Any:
        channel = rss_feed[0]
        anchor = next((el for el in channel if el.tag == f"{{{ATOM_NS}}}link"), None)
        position = list(channel).index(anchor) + 1 if anchor is not None else len(channel)
        for offset, hub in enumerate(self.hubs):
            link = channel.makeelement(f"{{{ATOM_NS}}}link", {"href": hub, "rel": "hub"})
            channel.insert(position + offset, link)
        return rss_feed


def _author(config: Config) -> dict[str, str]:
    author = {"name": config.settings.author.name or config.settings.title}
    if config.settings.author.email:
        author["email"] = config.settings.author.email
    return author


def _feed(
    spec: FeedSpec,
    items: Sequence[RenderedPost],
    config: Config,
    updated: datetime,
    hubs: list[str],
) -> FeedGenerator:
    """Everything but the feed's links, which render_feeds sets per format."""
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    if hubs:  # RSS only: in Atom, hub links come from link() itself
        fg.register_extension("websub", _HubLinks, atom=False, rss=True)
        fg.websub.hubs = hubs
    fg.id(spec.page_url)
    fg.title(spec.title)
    fg.description(spec.description or spec.title)
    fg.language(config.settings.language)
    author = _author(config)
    fg.author(author)
    if "email" in author:  # RSS names the channel's person in managingEditor: "address (name)"
        fg.managingEditor(f"{author['email']} ({author['name']})")
    fg.generator("publisher", version=__version__)  # no uri: the project has no public home yet
    fg.lastBuildDate(updated)
    fg.updated(updated)
    for item in items:
        post = item.post
        fe = fg.add_entry(order="append")
        fe.id(post.url)
        fe.guid(post.url, permalink=True)
        fe.title(post.title)
        fe.link(href=post.url, rel="alternate", type="text/html")
        fe.content(item.html, type="html")
        if item.summary:
            # RSS <description> is HTML, so the plain-text summary is escaped as HTML too (then
            # as XML), as Hugo does: `Vec<String>` reads as written, not as a tag; Atom's summary
            # says it is HTML. (feedgen's summary() sets both; its description() would also
            # replace Atom's <content>.)
            fe.summary(escape(item.summary, quote=False), type="html")
        fe.published(post.date)
        fe.updated(post.lastmod)
        if post.authors:
            fe.author([{"name": a} for a in post.authors])
            for name in post.authors:
                fe.dc.dc_creator(name)
        else:  # the site's author, named in every item as Hugo's RSS does: readers such as
            fe.author(author)  # newsboat show no author for an Atom entry that leaves it to the feed
            if "email" not in author:  # RSS's <author> is an address: a name alone goes in dc:creator
                fe.dc.dc_creator(author["name"])
        terms = (*post.categories, *post.tags)
        if terms:  # one call: feedgen rebuilds its RSS list from all categories on each
            fe.category([{"term": term, "label": term} for term in terms])
    return fg


def _json_feed(spec: FeedSpec, items: Sequence[RenderedPost], config: Config, self_url: str, hubs: list[str]) -> bytes:
    site_author = _author(config)["name"]
    doc: dict[str, object] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "home_page_url": spec.page_url,
        "feed_url": self_url,
        "description": spec.description or spec.title,
        "language": config.settings.language,
        "authors": [{"name": site_author}],
    }
    if hubs:
        doc["hubs"] = [{"type": "WebSub", "url": h} for h in hubs]
    entries = []
    for item in items:
        post = item.post
        entry: dict[str, object] = {
            "id": post.url,
            "url": post.url,
            "title": post.title,
            "content_html": item.html,
            "summary": item.summary,
            "date_published": post.date.isoformat(),
            "date_modified": post.lastmod.isoformat(),
            "tags": list(dict.fromkeys((*post.categories, *post.tags))),
        }
        if post.source_url:
            entry["external_url"] = post.source_url
        if post.images:
            entry["image"] = urljoin(post.url, post.images[0])
        entry["authors"] = [{"name": a} for a in post.authors or (site_author,)]
        entries.append(entry)
    doc["items"] = entries
    # No indent: json's C encoder only runs without one (3x faster on big feeds).
    return (json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8")


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically replace `path` with `data` unless it already holds exactly that.

    Leaving unchanged files alone keeps their mtime, so Last-Modified/ETag and feed
    readers' conditional GETs keep working. The file gets the mode a plain `open` would give
    it (0o666 less the umask), not mkstemp's private 0o600: a web server has to read it.
    """
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~process_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


@functools.cache
def process_umask() -> int:
    """The umask, read without changing it: setting it, even for an instant, would race with
    other threads creating files (`publisher run --serve` has a web server thread)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc (not Linux): the only portable way to read it
    os.umask(mask)
    return mask
