"""The use cases over content: load the site, build the feeds, check without writing.

content/ -> posts (cached by file stamp) -> published set -> feed specs -> rendered items ->
feed files. Everything here is deterministic given the files and `now`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from publisher import __version__, urls
from publisher import posts as posts_mod
from publisher.cache import BuildCache, Entry, Rendered
from publisher.config import Config
from publisher.errors import PostError, Problem
from publisher.models import FeedSpec, Post, RenderedPost

Progress = Callable[[str, int], Callable[[int], None]]
"""progress(label, total) -> advance(n): lets the CLI draw a bar without the library printing."""

TAXONOMIES = (("tags", "tags"), ("categories", "categories"))


def _no_progress(label: str, total: int) -> Callable[[int], None]:
    return lambda n: None


@dataclass
class Site:
    """Every usable post, classified at `now`, and every problem found on the way."""

    now: datetime
    posts: list[Post]
    problems: list[Problem]
    stamps: dict[str, tuple[int, int]]

    def with_status(self, status: str) -> list[Post]:
        return [p for p in self.posts if p.status(self.now) == status]

    @property
    def published(self) -> list[Post]:
        """Newest first; ties broken by slug so the order never flickers."""
        return sorted(self.with_status("published"), key=lambda p: (-p.date.timestamp(), p.slug))


@dataclass
class BuildReport:
    site: Site
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    feeds: int = 0

    @property
    def ok(self) -> bool:
        return not self.site.problems


def meta_fingerprint(config: Config) -> str:
    """Changes when anything that shapes a loaded Post changes: settings or the loader's code."""
    h = hashlib.sha256(f"{__version__}|{config.settings!r}|{config.content_dir}".encode())
    h.update(Path(posts_mod.__file__).read_bytes())
    return h.hexdigest()[:32]


def load_site(
    config: Config, cache: BuildCache | None = None, now: datetime | None = None, progress: Progress = _no_progress
) -> Site:
    """Load every post, reusing the cache for files whose size and mtime are unchanged."""
    now = now or datetime.now(UTC)
    cache = cache if cache is not None else BuildCache(meta_fingerprint(config))
    sources, problems = posts_mod.discover(config.content_dir)
    entries: dict[str, Entry] = {}
    advance = progress("Reading posts", len(sources))
    for source in sources:
        entry = cache.entries.get(source.relpath)
        if entry is None or entry.stamp != source.stamp:
            try:
                entry = Entry(source.stamp, post=posts_mod.load_post(source, config))
            except PostError as exc:
                entry = Entry(source.stamp, problems=exc.problems)
        entries[source.relpath] = entry
        problems.extend(entry.problems)
        advance(1)
    cache.entries = entries
    loaded = [e.post for e in entries.values() if e.post is not None]
    unique, dup_problems = posts_mod.check_unique(loaded, config)
    return Site(now, unique, problems + dup_problems, {k: e.stamp for k, e in entries.items()})


def feed_specs(site: Site, config: Config) -> list[FeedSpec]:
    """The site feed plus one per tag and per category, each holding its newest posts."""
    s = config.settings
    published = site.published
    n = s.feed_length
    specs = [FeedSpec("", s.title, s.description, config.base_url, tuple(published[:n]))]
    for taxonomy, attr in TAXONOMIES:
        groups: dict[str, tuple[str, list[Post]]] = {}
        for post in published:
            for term in getattr(post, attr):
                key = urls.urlize(term)
                groups.setdefault(key, (term, []))[1].append(post)
        for key in sorted(groups):
            name, members = groups[key]
            path = f"{taxonomy}/{key}"
            specs.append(
                FeedSpec(
                    path,
                    f"{name} - {s.title}",
                    s.description,
                    urls.absolute(config.base_url, path + "/"),
                    tuple(members[:n]),
                )
            )
    return specs


def build(
    config: Config, now: datetime | None = None, progress: Progress = _no_progress, write: bool = True
) -> BuildReport:
    """Write every feed whose content changed; with write=False, do all the work but write nothing."""
    from publisher import feeds  # heavy imports only once it's clear we need them
    from publisher.rendering import Renderer

    cache = BuildCache.load(config.cache_dir, meta_fingerprint(config))
    site = load_site(config, cache, now, progress)
    specs = feed_specs(site, config)
    renderer = Renderer(config)
    cache.set_render_fingerprint(renderer.fingerprint())
    report = BuildReport(site, feeds=len(specs))
    todo = []
    current_files: set[str] = set()
    for spec in specs:
        paths = feeds.feed_paths(spec.key)
        current_files.update(paths.values())
        signature = _signature(spec, site, cache.render_fingerprint)
        if (
            write
            and cache.feeds.get(spec.key) == signature
            and all((config.output_dir / p).is_file() for p in paths.values())
        ):
            report.unchanged += len(paths)
            continue
        todo.append((spec, signature))

    needed = {p.relpath: p for spec, _ in todo for p in spec.posts}
    if not write:  # check renders everything that would be published
        needed.update((p.relpath, p) for p in site.published)
    rendered: dict[str, RenderedPost] = {}
    advance = progress("Rendering posts", len(needed))
    for relpath, post in needed.items():
        hit = cache.rendered.get(relpath)
        stamp = site.stamps[relpath]
        if hit is None or hit.stamp != stamp:
            try:
                item = renderer.render_post(post, posts_mod.read_body(post, config))
            except PostError as exc:
                site.problems.extend(exc.problems)
                advance(1)
                continue
            hit = cache.rendered[relpath] = Rendered(stamp, item.html, item.summary)
        rendered[relpath] = RenderedPost(post, hit.html, hit.summary)
        advance(1)

    advance = progress("Writing feeds", len(todo))
    for spec, signature in todo:
        items = [rendered[p.relpath] for p in spec.posts if p.relpath in rendered]
        documents = feeds.render_feeds(spec, items, config)
        if write:
            for rel, data in documents.items():
                if feeds.write_if_changed(config.output_dir / rel, data):
                    report.written.append(rel)
                else:
                    report.unchanged += 1
            cache.feeds[spec.key] = signature
        advance(1)
    if not write:
        return report
    for rel in sorted(cache.written - current_files):
        (config.output_dir / rel).unlink(missing_ok=True)
        _remove_empty_parents(config.output_dir / rel, config.output_dir)
        report.removed.append(rel)
    cache.written = current_files
    in_feeds = {p.relpath for spec in specs for p in spec.posts}
    cache.rendered = {k: v for k, v in cache.rendered.items() if k in in_feeds}
    cache.save(config.cache_dir)
    return report


def check(config: Config, now: datetime | None = None, progress: Progress = _no_progress) -> BuildReport:
    """Load and render everything, write nothing: the problems a build would report."""
    return build(config, now, progress, write=False)


def _signature(spec: FeedSpec, site: Site, render_fingerprint: str) -> str:
    h = hashlib.sha256(f"{render_fingerprint}|{spec.key}|{spec.title}|{spec.description}|{spec.page_url}".encode())
    for post in spec.posts:
        h.update(f"|{post.relpath}:{site.stamps[post.relpath]}".encode())
    return h.hexdigest()


def _remove_empty_parents(path: Path, stop: Path) -> None:
    parent = path.parent
    while parent != stop and stop in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent
