"""The use cases over content: load the site, build the feeds, check without writing.

content/ -> post index (cached by file stamp) -> published set -> feed specs -> rendered
items -> feed files. Everything here is deterministic given the files and `now`.

A build plans from the small per-post index alone; full posts are parsed (or unpickled from
the cache) and rendered only for the feeds whose inputs changed. Cold builds spread parsing
and rendering over the CPU cores.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from operator import attrgetter
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, get_args

from publisher import __version__, rendering, shortcodes, urls, workers
from publisher import cascade as cascade_mod
from publisher import posts as posts_mod
from publisher.cache import BuildCache
from publisher.config import Config
from publisher.errors import PostError, Problem, writing_into
from publisher.models import FeedSpec, Post, PostIndex, RenderedPost, Status

Progress = Callable[[str, int], Callable[[int], None]]
"""progress(label, total) -> advance(n): lets the CLI draw a bar without the library printing."""

# Below these counts, starting worker processes costs more than it saves (a parse takes
# ~0.5 ms, a render ~8 ms, a feed family ~15 ms).
PARALLEL_PARSE_MIN = 400
PARALLEL_RENDER_MIN = 24
PARALLEL_FEEDS_MIN = 16


def _no_progress(label: str, total: int) -> Callable[[int], None]:
    return lambda n: None


@dataclass
class Site:
    """Every usable post's index, classified at `now`, and every problem found on the way."""

    config: Config
    now: datetime
    index: list[PostIndex]
    problems: list[Problem]
    other_languages: int = 0  # pages of the Hugo site's other languages, left to their own sites
    cascade: cascade_mod.Cascade = field(default_factory=cascade_mod.Cascade)  # what section pages hand down

    @cached_property
    def _by_status(self) -> dict[Status, list[PostIndex]]:
        """Each entry's status, worked out once (builds and their summaries ask several times)."""
        now = self.now.timestamp()
        groups: dict[Status, list[PostIndex]] = {s: [] for s in get_args(Status)}
        for entry in self.index:
            groups[entry.status(now)].append(entry)
        published = groups["published"]
        published.sort(key=attrgetter("slug"))  # sorts are stable: newest first, ties by slug
        published.sort(key=attrgetter("date"), reverse=True)
        return groups

    def entries(self, status: Status) -> list[PostIndex]:
        return list(self._by_status[status])

    def published_index(self) -> list[PostIndex]:
        """Newest first; ties broken by slug so the order never flickers."""
        return self.entries("published")

    def count(self, status: Status) -> int:
        return len(self._by_status[status])

    def load(self, entries: Iterable[PostIndex]) -> list[Post]:
        """Full posts for index entries, read again from disk (builds never need this)."""
        sources = [_source(self.config, e) for e in entries]
        _state.cascade = self.cascade
        return [post for post, _ in _map(_load_one, sources, self.config, PARALLEL_PARSE_MIN) if post is not None]

    @property
    def posts(self) -> list[Post]:
        return self.load(self.index)

    @property
    def published(self) -> list[Post]:
        return self.load(self.published_index())

    def with_status(self, status: Status) -> list[Post]:
        return self.load(self.entries(status))


@dataclass
class BuildReport:
    site: Site
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    feeds: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, for --timings
    helper_jobs: int = 0  # posts rendered and feed families written by the helper process
    warnings: list[Problem] = field(default_factory=list)  # worth the operator's eye; nothing was rejected

    def lap(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[stage] = now - since
        return now

    @property
    def ok(self) -> bool:
        return not self.site.problems


def meta_fingerprint(config: Config) -> str:
    """Changes when anything that shapes a loaded Post changes: settings or the loader's code."""
    h = hashlib.sha256(f"{__version__}|{config.settings!r}|{config.content_dir}".encode())
    loader = Path(posts_mod.__file__)
    for module in (loader, *(loader.with_name(m) for m in ("front_matter.py", "urls.py", "cascade.py"))):
        h.update(module.read_bytes())
    return h.hexdigest()[:32]


def open_cache(config: Config, readonly: bool = False) -> BuildCache:
    return BuildCache.open(config.cache_dir, meta_fingerprint(config), rendering.fingerprint(config), readonly)


def current_site(config: Config, now: datetime | None = None) -> Site:
    """The site as it is now, reusing what the last build cached, changing nothing."""
    cache = open_cache(config, readonly=True)
    try:
        return load_site(config, cache, now)
    finally:
        cache.close()


def load_site(
    config: Config,
    cache: BuildCache | None = None,
    now: datetime | None = None,
    progress: Progress = _no_progress,
    meanwhile: Callable[[], None] | None = None,
) -> Site:
    """Index every post, parsing only files whose size or mtime changed since the cache saw them.
    `meanwhile` runs in this process while worker processes parse (only when they do)."""
    now = now or datetime.now(UTC)
    known = cache.index() if cache is not None else {}
    # With nothing cached, no stamp needs comparing here: the parsing workers stat the files.
    sources, problems, other_languages, sections = posts_mod.discover(
        config.content_dir, bool(known), config.hugo_languages
    )
    cascade, cascade_problems = cascade_mod.load(sections)
    problems.extend(cascade_problems)
    if cache is not None and not cache.use_cascade(cascade.digest()):
        known = cache.index()  # emptied: every post inherits anew
    _state.cascade = cascade
    index: list[PostIndex] = []
    todo = []
    for source in sources:
        hit = known.get(source.relpath)
        if hit is None or hit[0] != source.stamp:
            todo.append(source)
            continue
        _, entry, cached_problems = hit
        if entry is not None:
            index.append(entry)
        else:
            shown = posts_mod.display_path(source.path)
            problems.extend(Problem(shown, line, message) for line, message in cached_problems)
    advance = progress("Reading posts", len(todo))
    _state.config, _state.kept = config, {}
    if len(todo) < PARALLEL_RENDER_MIN:  # a rebuild's few changed posts: keep what rendering them needs
        parsed = [_parse_one(source, keep=True) for source in todo]
        advance(len(todo))
    else:
        parsed = _map(_parse_one, todo, config, PARALLEL_PARSE_MIN, advance, meanwhile)
    results = [tuple.__new__(Parsed, result) for result in parsed]
    for result in results:
        if result.index is not None:
            index.append(result.index)
        problems.extend(result.problems)
    if cache is not None:
        cache.store_posts(results)
        cache.forget_posts(set(known) - {s.relpath for s in sources})
    unique, duplicates = _check_unique(index, config, now.timestamp())
    return Site(config, now, unique, problems + duplicates, other_languages, cascade)


def _check_unique(index: list[PostIndex], config: Config, now: float) -> tuple[list[PostIndex], list[Problem]]:
    """Posts that share a URL (the slug decides it): the one published first keeps it, so
    a draft or a copied file never takes a live post (and its GUID) out of the feeds; every
    other claimant is rejected, naming it. Where none is published yet, all are rejected."""
    by_url: dict[str, list[PostIndex]] = {}
    for entry in index:
        by_url.setdefault(entry.url, []).append(entry)
    keep, problems = [], []
    for group in by_url.values():
        if len(group) == 1:
            keep.append(group[0])
            continue
        shown = {e.relpath: posts_mod.display_path(config.content_dir / e.relpath) for e in group}
        live = (e for e in group if e.status(now) == "published")
        first = min(live, key=lambda e: (e.publish, e.relpath), default=None)
        if first is not None:
            keep.append(first)
            for entry in group:
                if entry is not first:
                    message = f"{_claim(entry, first)} is already used by {shown[first.relpath]}, published earlier"
                    problems.append(Problem(shown[entry.relpath], None, f"{message}; {_fix(entry, first)}"))
            continue
        for entry in group:
            others = [o for o in group if o is not entry]
            names = ", ".join(shown[o.relpath] for o in others)
            message = f"{_claim(entry, others[0])} is also used by {names}; {_fix(entry, others[0], 'one of them')}"
            problems.append(Problem(shown[entry.relpath], None, message))
    keep.sort(key=lambda e: e.relpath)
    return keep, problems


def _claim(entry: PostIndex, other: PostIndex) -> str:
    """What two posts with one URL share: their slug, or (set by `url` or the permalink pattern) the URL."""
    return f"slug {entry.slug!r}" if entry.slug == other.slug else f"URL {entry.url}"


def _fix(entry: PostIndex, other: PostIndex, who: str = "this post") -> str:
    return f"give {who} another 'slug'" if entry.slug == other.slug else f"give {who} another 'url' or 'slug'"


def feed_specs(site: Site, config: Config) -> list[FeedSpec]:
    """The site feed plus one per tag and per category, each holding its newest posts."""
    s = config.settings
    published = site.published_index()
    n = s.feed_length
    lang = config.language_prefix  # a second language's feeds live under its key, as in Hugo
    specs = [FeedSpec(lang.rstrip("/"), s.title, s.description, config.site_url, tuple(published[:n]), site.now)]
    for taxonomy in urls.TAXONOMIES:
        link = config.term_permalinks.get(taxonomy)
        groups: dict[str, tuple[str, list[PostIndex]]] = {}  # URL key -> (first spelling, newest posts)
        by_term: dict[str, list[PostIndex]] = {}  # each spelling's members: one lookup per term of 10,000 posts
        for entry in published:
            for term in getattr(entry, taxonomy):
                members = by_term.get(term)
                if members is None:
                    key = urls.urlize(term)
                    if key not in groups:
                        groups[key] = (term, [])
                    members = by_term[term] = groups[key][1]
                if len(members) < n:
                    members.append(entry)
        for key in sorted(groups):
            name, members = groups[key]
            path = f"{taxonomy}/{key}"
            if link is not None:  # the blog's [permalinks] for its terms: the term's feeds live there
                path = urls.term_path(link, taxonomy, key, members[0].date, config.timezone)
            path = lang + path
            page = urls.absolute(config.base_url, path + "/")
            specs.append(FeedSpec(path, f"{name} - {s.title}", s.description, page, tuple(members)))
    return specs


def build(
    config: Config, now: datetime | None = None, progress: Progress = _no_progress, write: bool = True
) -> BuildReport:
    """Write every feed whose content changed; with write=False, do all the work but write nothing."""
    started = time.perf_counter()
    if write:
        with writing_into("output_dir", config.output_dir):
            config.output_dir.mkdir(parents=True, exist_ok=True)
    cache = open_cache(config, readonly=not write)
    _state.renderer = None  # never reuse a renderer from another build (templates may have changed)
    try:
        report = _build(config, cache, now, progress, write)
        saving = time.perf_counter()
        if write:
            cache.commit()
        report.lap("save", saving)
        report.lap("total", started)
        return report
    finally:
        _state.renderer, _state.kept = None, {}
        cache.close()


def check(config: Config, now: datetime | None = None, progress: Progress = _no_progress) -> BuildReport:
    """Load and render everything, write nothing: the problems a build would report, and any
    template (email and web ones too) that does not compile."""
    report = build(config, now, progress, write=False)
    rendering.Renderer(config).compile_all()
    return report


def _build(config: Config, cache: BuildCache, now: datetime | None, progress: Progress, write: bool) -> BuildReport:
    t = time.perf_counter()
    # With a warm cache, only a few posts need rendering: a helper gets rendering ready meanwhile.
    with _helper(config) if write and cache.has_index() else nullcontext() as helper:
        report = _plan_and_write(config, cache, now, progress, write, helper, t)
        report.helper_jobs = helper.done if helper is not None else 0
        return report


def _plan_and_write(
    config: Config,
    cache: BuildCache,
    now: datetime | None,
    progress: Progress,
    write: bool,
    helper: workers.Helper | None,
    t: float,
) -> BuildReport:
    site = load_site(config, cache, now, progress, meanwhile=_prepare_rendering)
    report = BuildReport(site)
    t = report.lap("load", t)
    specs = feed_specs(site, config)
    report.feeds = len(specs)
    signatures = {spec.key: _signature(spec) for spec in specs}
    previous = cache.feed_signatures() if write else {}
    todo = []
    current_files: set[str] = set()
    for spec in specs:
        paths = urls.feed_paths(spec.key)
        current_files.update(paths)
        if previous.get(spec.key) == (signatures[spec.key], _file_stamps(config.output_dir, paths)):
            report.unchanged += len(paths)
        else:
            todo.append(spec)

    wanted = {e.relpath: e for spec in todo for e in spec.posts}
    if not write:  # check renders everything that would be published
        wanted.update((e.relpath, e) for e in site.published_index())
    t = report.lap("plan", t)
    rendered, fresh = _render_all(site, wanted, cache, progress, helper)
    report.warnings = _warnings(rendered.values(), config)
    t = report.lap("render", t)

    def stage_cache() -> None:  # the cache writes, done while feed workers run when there are any
        nonlocal fresh
        cache.store_rendered(fresh)
        fresh = []
        cache.stage_index()

    if todo:
        _state.rendered, _state.write = rendered, write  # read by the (forked) feed workers
        advance = progress("Writing feeds", len(todo))
        for written, unchanged in _write_feeds(todo, config, advance, stage_cache, helper):
            report.written += written
            report.unchanged += unchanged
        _state.rendered = {}
    stage_cache()
    report.lap("feeds", t)
    if not write:
        return report
    out = config.output_dir
    cache.store_feed_signatures(
        {spec.key: (signatures[spec.key], _file_stamps(out, urls.feed_paths(spec.key))) for spec in todo}
    )
    with writing_into("output_dir", config.output_dir):
        for rel in sorted(cache.written(str(config.output_dir)) - current_files):
            (config.output_dir / rel).unlink(missing_ok=True)
            _remove_empty_parents(config.output_dir / rel, config.output_dir)
            report.removed.append(rel)
    cache.set_written(current_files, str(config.output_dir))
    if todo:
        cache.keep_rendered({e.relpath for spec in specs for e in spec.posts})
    return report


def _prepare_helper() -> None:
    """The helper's set-up: what rendering and writing feeds need. Not PyYAML: the posts it
    renders come parsed (see _kept)."""
    from publisher import feeds  # noqa: F401  (feedgen and lxml)

    _state.renderer = rendering.Renderer(_state.config)
    _state.renderer.preload("feed_item.html")


def _prepare_rendering() -> None:
    """While workers parse a cold build, get what rendering needs ready in this process: the
    forked render and feed workers inherit it instead of each importing and compiling it."""
    _import_feeds()
    _prepare_helper()


def _import_feeds() -> None:
    from publisher import (  # noqa: F401  (imported once, here: forked workers inherit them)
        feeds,  # feedgen and lxml
        front_matter,  # PyYAML: rendering re-reads each post
    )


def _write_feeds(
    todo: list[FeedSpec],
    config: Config,
    advance: Callable[[int], None],
    meanwhile: Callable[[], None],
    helper: workers.Helper | None,
) -> Iterator[tuple[list[str], int]]:
    """_feeds_one over the families: in worker processes when there are many, else shared with
    the helper (which gets its families' items pickled), else here."""
    if helper is None or len(todo) >= PARALLEL_FEEDS_MIN:
        if helper is not None:
            helper.close()  # the workers take every core
        yield from _map(_feeds_one, todo, config, PARALLEL_FEEDS_MIN, advance, meanwhile)
        return
    mine, theirs = todo[0::2], todo[1::2]
    helper.submit(_write_family, [(spec, _items(spec)) for spec in theirs])
    meanwhile()
    for spec in mine:
        yield _feeds_one(spec)
        advance(1)
    for result in helper.collect():
        yield result
        advance(1)


def _render_all(
    site: Site,
    wanted: dict[str, PostIndex],
    cache: BuildCache,
    progress: Progress,
    helper: workers.Helper | None = None,
) -> tuple[dict[str, RenderedPost], list[tuple[tuple[int, int], RenderedPost]]]:
    """Rendered items for the wanted posts, from the cache when the file is unchanged; and
    the fresh ones with their stamps, for the caller to cache."""
    # read only if a post has a ref/relref shortcode
    _state.refs = shortcodes.Refs(site.index, site.config.hugo_languages)
    out = cache.rendered({rel: e.stamp for rel, e in wanted.items()})
    for rel in [rel for rel, item in out.items() if item.refs and not _refs_hold(item, _state.refs)]:
        del out[rel]  # a post it links to moved: render it again
    todo = [_source(site.config, e) for rel, e in wanted.items() if rel not in out]
    fresh: list[tuple[tuple[int, int], RenderedPost]] = []
    if not todo:
        return out, fresh
    advance = progress("Rendering posts", len(todo))
    if helper is not None and len(todo) < PARALLEL_RENDER_MIN:
        helper.submit(_render_one, [(s, site.cascade, _kept(s)) for s in todo])
        _import_feeds()  # needed next, for the feeds this process writes
        results = helper.collect()
    else:
        if helper is not None:
            helper.close()  # enough posts to render for worker processes on every core
        results = list(_map(_render_one, todo, site.config, PARALLEL_RENDER_MIN, advance))
    for source, result in zip(todo, results, strict=True):
        if isinstance(result, list):
            site.problems.extend(result)
            continue
        out[source.relpath] = result
        fresh.append((source.stamp, result))
    return out, fresh


# -- work that can run in worker processes ------------------------------------------------


class Parsed(NamedTuple):
    """One file's parse, as it crosses back from a worker: just the index (or the problems)."""

    relpath: str
    stamp: tuple[int, int]
    index: PostIndex | None
    problems: list[Problem]


class _State:
    """What forked workers inherit instead of receiving it pickled with every task."""

    config: Config
    cascade: cascade_mod.Cascade = cascade_mod.Cascade()  # the site's, once its sections are read
    renderer: Any = None
    refs: shortcodes.Refs | None = None  # the site's posts, once the index is read (for ref/relref)
    rendered: ClassVar[dict[str, RenderedPost]] = {}
    kept: ClassVar[dict[str, tuple[tuple[int, int], Post, str]]] = {}  # relpath -> (stamp, post, body)
    write = True


_state = _State()


def _parse_one(
    source: posts_mod.Source, keep: bool = False
) -> tuple[str, tuple[int, int], PostIndex | None, list[Problem]]:
    """A Parsed as a plain tuple (load_site rebuilds it: a NamedTuple's __new__ is Python).
    With `keep`, the post and its body are kept for rendering (see _kept)."""
    source = posts_mod.stamped(source)
    try:
        if keep:
            post, body = posts_mod.load_post_and_body(source, _state.config, _state.cascade)
            _state.kept[source.relpath] = (source.stamp, post, body)
        else:
            post = posts_mod.load_post(source, _state.config, _state.cascade)
    except PostError as exc:
        return (source.relpath, source.stamp, None, exc.problems)
    return (source.relpath, source.stamp, post.index(source.stamp), [])


def _load_one(source: posts_mod.Source) -> tuple[Post | None, list[Problem]]:
    try:
        return posts_mod.load_post(source, _state.config, _state.cascade), []
    except PostError as exc:
        return None, exc.problems


def _render_one(
    source: posts_mod.Source, cascade: cascade_mod.Cascade | None = None, kept: tuple[Post, str] | None = None
) -> RenderedPost | list[Problem]:
    """(A ref/relref shortcode in a helper, forked before the index was read, raises
    SiteNeeded: the helper gives the job back and the parent renders it. The helper gets the
    cascade with each job, for the same reason, and the post and body load_site kept: it
    forked before they were parsed.)"""
    if cascade is not None:
        _state.cascade = cascade
    if _state.renderer is None:
        _state.renderer = rendering.Renderer(_state.config)
    _state.renderer.refs = _state.refs
    try:
        post, body = kept or _kept(source) or posts_mod.load_post_and_body(source, _state.config, _state.cascade)
        return _state.renderer.render_post(post, body)
    except PostError as exc:
        return exc.problems


def _kept(source: posts_mod.Source) -> tuple[Post, str] | None:
    """The post and body load_site parsed from this very file (same stamp), if it kept them: a
    rebuild's helper then renders without reading the file again or importing PyYAML."""
    kept = _state.kept.get(source.relpath)
    return (kept[1], kept[2]) if kept is not None and kept[0] == source.stamp else None


def _warnings(items: Iterable[RenderedPost], config: Config) -> list[Problem]:
    """A shortcode with no template (a theme's, say) lost its markup: tell the operator where."""
    out = []
    for item in sorted((i for i in items if i.unknown_shortcodes), key=lambda i: i.post.relpath):
        for name in item.unknown_shortcodes:
            line = posts_mod.line_of_match(item.post.path, r"\{\{[<%]\s*" + re.escape(name) + r"(?![\w.-])")
            message = (
                f"warning: shortcode {name!r} has no template, so only its inner content was kept; "
                f"add shortcodes/{name}.html to templates_dir"
            )
            out.append(Problem(posts_mod.display_path(item.post.path), line, message))
    return out


def _refs_hold(item: RenderedPost, refs: shortcodes.Refs) -> bool:
    """Whether each ref/relref in a cached rendering still leads where it did."""
    try:
        return all(refs.resolve(ref, item.post.relpath) == url for ref, url in item.refs)
    except shortcodes.RefNotFound:
        return False


def _feeds_one(spec: FeedSpec) -> tuple[list[str], int]:
    """Render one feed family and write the files that changed (in the worker: a family's
    documents are ~1 MB, too much to ship back to the parent)."""
    return _write_family(spec, _items(spec))


def _items(spec: FeedSpec) -> list[RenderedPost]:
    """The family's rendered items, from what this process (or its forked parent) rendered."""
    return [_state.rendered[e.relpath] for e in spec.posts if e.relpath in _state.rendered]


def _write_family(spec: FeedSpec, items: list[RenderedPost]) -> tuple[list[str], int]:
    from publisher import feeds  # feedgen is a costly import: only when a feed must change

    documents = feeds.render_feeds(spec, items, _state.config)
    if not _state.write:
        return [], 0
    out = _state.config.output_dir
    with writing_into("output_dir", out):
        written = [rel for rel, data in documents.items() if feeds.write_if_changed(out / rel, data)]
    return written, len(documents) - len(written)


def _map(
    func: Callable[[Any], Any],
    items: list,
    config: Config,
    minimum: int,
    advance: Callable[[int], None] = lambda n: None,
    meanwhile: Callable[[], None] | None = None,
) -> Iterator[Any]:
    """func over items, in order; in forked worker processes when there are many (see workers)."""
    _state.config = config
    if func is _render_one and _state.renderer is None and len(items) >= minimum:
        _state.renderer = rendering.Renderer(config)  # built once, inherited by the forked workers
    # Small chunks keep every core busy to the end: a render or a feed family takes
    # milliseconds (one per task), a parse a fraction of one (about 1/32 of a worker's share).
    chunk = 1 if func in (_render_one, _feeds_one) else max(1, len(items) // (workers.cores() * 32))
    return workers.fork_map(func, items, minimum, chunk, advance, meanwhile)


def _helper(config: Config) -> workers.Helper | nullcontext[None]:
    """A helper that gets rendering ready while this process plans a rebuild: only for a process
    that has not loaded the rendering libraries yet (a fresh `publisher build`, not the daemon).
    Importing Markdown, Jinja and feedgen and compiling the templates takes about as long as
    statting every post and loading the index; then the helper renders the few changed posts and
    writes half of the changed feeds."""
    if "publisher.feeds" in sys.modules or not workers.Helper.usable():
        return nullcontext()
    _state.config = config  # inherited by the fork
    return workers.Helper(prepare=_prepare_helper)


def _source(config: Config, entry: PostIndex) -> posts_mod.Source:
    return posts_mod.Source(str(config.content_dir / entry.relpath), entry.relpath, *entry.stamp)


def _signature(spec: FeedSpec) -> str:
    """Everything a feed's bytes depend on besides templates and settings (those reset the cache)."""
    h = hashlib.sha256(f"{spec.key}|{spec.title}|{spec.description}|{spec.page_url}".encode())
    for entry in spec.posts:
        h.update(f"|{entry.relpath}:{entry.stamp}".encode())
    return h.hexdigest()


def _file_stamps(root: Path, paths: Iterable[str]) -> str:
    """The files' (size, mtime_ns), as one string; "" when one is missing."""
    stamps = []
    for rel in paths:
        try:
            st = os.stat(root / rel)
        except OSError:
            return ""
        stamps.append(f"{st.st_size}:{st.st_mtime_ns}")
    return " ".join(stamps)


def _remove_empty_parents(path: Path, stop: Path) -> None:
    parent = path.parent
    while parent != stop and stop in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent
