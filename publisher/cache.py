"""The build cache: what earlier builds learned, so a rebuild only parses and renders what changed.

A SQLite file in `cache_dir`. Each post has a row keyed on its path and (size, mtime_ns):
a small index (status, order, terms) read for every build, and the full parsed post,
unpickled only when the post must be rendered. Rendered HTML, each feed's input signature
and the list of files we wrote are kept too. Rows are stamped with fingerprints of the
settings and the templates, so a change there drops exactly what depends on it.

A cache that is missing, stale or damaged is simply empty: it can never change the output.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from publisher.models import Post, PostIndex

FILE_NAME = "build.sqlite"
SCHEMA_VERSION = "1"
SEP = "\x1f"  # never inside a term: control characters are cleaned out of names

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS posts (
    relpath TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    slug TEXT, url TEXT, date REAL, publish REAL, expiry REAL, draft INTEGER,
    tags TEXT, categories TEXT, post BLOB, problems TEXT);
CREATE TABLE IF NOT EXISTS rendered (
    relpath TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    html TEXT NOT NULL, summary TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (key TEXT PRIMARY KEY, signature TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS written (path TEXT PRIMARY KEY);
"""

Problems = list[tuple[int | None, str]]
"""A rejected post's problems as (line, message); the path is added when shown."""


class BuildCache:
    """One build's view of the cache. Use `open`; call `commit` once the build has succeeded."""

    def __init__(self, db: sqlite3.Connection | None, readonly: bool = False):
        self.db = db
        self.readonly = readonly  # `publisher check`: read what matches, write nothing
        self.stale_render = False  # read-only use with changed templates: ignore rendered rows

    @classmethod
    def open(
        cls, cache_dir: Path, meta_fingerprint: str, render_fingerprint: str, readonly: bool = False
    ) -> BuildCache:
        path = cache_dir / FILE_NAME
        if readonly and not path.is_file():
            return cls(None)
        try:
            if readonly:
                db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            else:
                cache_dir.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(path)
            cache = cls(db, readonly)
            cache._prepare(meta_fingerprint, render_fingerprint, readonly)
            return cache
        except sqlite3.DatabaseError:
            if readonly:
                return cls(None)
            path.unlink(missing_ok=True)  # damaged: start afresh
            db = sqlite3.connect(path)
            cache = cls(db)
            cache._prepare(meta_fingerprint, render_fingerprint, readonly)
            return cache

    def _prepare(self, meta_fp: str, render_fp: str, readonly: bool) -> None:
        assert self.db is not None
        if readonly:  # use what matches, change nothing
            meta = dict(self.db.execute("SELECT key, value FROM meta"))
            if meta.get("schema") != SCHEMA_VERSION or meta.get("meta") != meta_fp:
                self.close()
            self.stale_render = meta.get("render") != render_fp
            return
        self.db.executescript("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;" + _SCHEMA)
        meta = dict(self.db.execute("SELECT key, value FROM meta"))
        if meta.get("schema") != SCHEMA_VERSION:
            self.db.executescript("DELETE FROM posts; DELETE FROM rendered; DELETE FROM feeds;")
        elif meta.get("meta") != meta_fp:
            self.db.execute("DELETE FROM posts")
        if meta.get("render") != render_fp or meta.get("schema") != SCHEMA_VERSION:
            self.db.executescript("DELETE FROM rendered; DELETE FROM feeds;")
        self.db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [("schema", SCHEMA_VERSION), ("meta", meta_fp), ("render", render_fp)],
        )

    # -- posts ---------------------------------------------------------------------------
    def index(self) -> dict[str, tuple[tuple[int, int], PostIndex | None, Problems]]:
        """Every cached post: its stamp, and either its index or its problems."""
        if self.db is None:
            return {}
        out = {}
        rows = self.db.execute(
            "SELECT relpath, size, mtime_ns, slug, url, date, publish, expiry, draft, tags, categories, problems"
            " FROM posts"
        )
        for rel, size, mtime, slug, url, date, publish, expiry, draft, tags, cats, problems in rows:
            stamp = (size, mtime)
            if problems is not None:
                out[rel] = (stamp, None, [tuple(p) for p in json.loads(problems)])
            else:
                index = PostIndex(rel, stamp, slug, url, date, publish, expiry, bool(draft), _split(tags), _split(cats))
                out[rel] = (stamp, index, [])
        return out

    def posts(self, relpaths: Iterable[str]) -> dict[str, Post]:
        """The full parsed posts, for the few a build must render."""
        if self.db is None:
            return {}
        out = {}
        for rel in relpaths:
            row = self.db.execute("SELECT post FROM posts WHERE relpath = ?", (rel,)).fetchone()
            if row and row[0] is not None:
                out[rel] = pickle.loads(row[0])
        return out

    def store_posts(self, entries: Iterable[tuple[str, tuple[int, int], Post | None, Problems]]) -> None:
        rows = []
        for rel, (size, mtime), post, problems in entries:
            if post is None:
                rows.append((rel, size, mtime, *([None] * 9), json.dumps(problems)))
            else:
                i = post.index((size, mtime))
                blob = pickle.dumps(post, protocol=pickle.HIGHEST_PROTOCOL)
                rows.append(
                    (rel, size, mtime, i.slug, i.url, i.date, i.publish, i.expiry, int(i.draft),
                     SEP.join(i.tags), SEP.join(i.categories), blob, None)
                )  # fmt: skip
        self._write("INSERT OR REPLACE INTO posts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def forget_posts(self, relpaths: Iterable[str]) -> None:
        rows = [(r,) for r in relpaths]
        self._write("DELETE FROM posts WHERE relpath = ?", rows)
        self._write("DELETE FROM rendered WHERE relpath = ?", rows)

    # -- rendered HTML -----------------------------------------------------------------------
    def rendered(self, wanted: dict[str, tuple[int, int]]) -> dict[str, tuple[str, str]]:
        """(html, summary) of each wanted post whose cached rendering has the same stamp."""
        if self.db is None or self.stale_render:
            return {}
        out = {}
        for rel, stamp in wanted.items():
            row = self.db.execute(
                "SELECT size, mtime_ns, html, summary FROM rendered WHERE relpath = ?", (rel,)
            ).fetchone()
            if row and (row[0], row[1]) == stamp:
                out[rel] = (row[2], row[3])
        return out

    def store_rendered(self, rows: Iterable[tuple[str, tuple[int, int], str, str]]) -> None:
        self._write(
            "INSERT OR REPLACE INTO rendered VALUES (?, ?, ?, ?, ?)",
            [(rel, size, mtime, html, summary) for rel, (size, mtime), html, summary in rows],
        )

    def keep_rendered(self, relpaths: set[str]) -> None:
        """Drop renderings of posts that no longer appear in any feed (keeps the file small)."""
        if self.db is None:
            return
        stale = [(r,) for (r,) in self.db.execute("SELECT relpath FROM rendered") if r not in relpaths]
        self._write("DELETE FROM rendered WHERE relpath = ?", stale)

    # -- feeds and owned files ---------------------------------------------------------------
    def feed_signatures(self) -> dict[str, str]:
        if self.db is None or self.stale_render:
            return {}
        return dict(self.db.execute("SELECT key, signature FROM feeds"))

    def store_feed_signatures(self, signatures: dict[str, str]) -> None:
        self._write("INSERT OR REPLACE INTO feeds VALUES (?, ?)", list(signatures.items()))

    def written(self) -> set[str]:
        if self.db is None:
            return set()
        return {p for (p,) in self.db.execute("SELECT path FROM written")}

    def set_written(self, paths: set[str]) -> None:
        if self.db is not None and not self.readonly:
            self.db.execute("DELETE FROM written")
        self._write("INSERT INTO written VALUES (?)", [(p,) for p in sorted(paths)])

    def _write(self, sql: str, rows: list) -> None:
        if self.db is not None and rows and not self.readonly:
            self.db.executemany(sql, rows)

    def commit(self) -> None:
        if self.db is not None:
            self.db.commit()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(value.split(SEP)) if value else ()
