"""The build cache: what earlier builds learned, so a rebuild only parses and renders what changed.

A SQLite file in `cache_dir`: the post index (per file: its (size, mtime_ns) stamp and the
few fields that decide status, order and terms), read by every build; the rendered item of
each post that appears in a feed; each feed's input signature and its files' stamps; the files
we wrote. Rows are stamped with fingerprints of the settings and the templates, so a change
there drops exactly what depends on it.

A cache that is missing, stale or damaged is simply empty: it can never change the output.

A writing build holds an exclusive lock on `build.lock` beside it: a second build of the same
site (an operator's `publisher build` while `publisher run` builds) waits, then finds the work
done. The kernel drops the lock when the process ends, however it ends.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from publisher.errors import Problem, writing_into
from publisher.models import PostIndex, RenderedPost

FILE_NAME = "build.sqlite"
LOCK_NAME = "build.lock"
SCHEMA_VERSION = "11"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- The post index, one pickled list of plain tuples: a single blob loads ~5x faster than 10,000 rows. Builds
-- that change a few posts write just those to index_delta (data NULL: the post is gone) until
-- the delta grows past a fraction of the index, then fold it into the blob.
CREATE TABLE IF NOT EXISTS blobs (name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS index_delta (relpath TEXT PRIMARY KEY, data BLOB);
CREATE TABLE IF NOT EXISTS rendered (
    relpath TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, item BLOB NOT NULL);
-- Each feed family's input signature and the (size, mtime) of the files written for it: a file
-- changed or truncated behind our back (a crash before the disk had it, a hand edit) is written again.
CREATE TABLE IF NOT EXISTS feeds (key TEXT PRIMARY KEY, signature TEXT NOT NULL, files TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS written (path TEXT PRIMARY KEY);
"""

Problems = list[tuple[int | None, str]]
"""A rejected post's problems as (line, message); the path is added when shown."""

ParseResult = tuple[str, tuple[int, int], PostIndex | None, list[Problem]]

IndexMap = dict[str, tuple[tuple[int, int], PostIndex | None, Problems]]
"""relpath -> (stamp, index entry or None, problems)."""


DELTA_MIN = 256  # index changes kept as rows before the blob is rewritten...
DELTA_FRACTION = 8  # ...or this fraction of the index, when larger


class BuildCache:
    """One build's view of the cache. Use `open`; call `commit` once the build has succeeded."""

    def __init__(self, db: sqlite3.Connection | None, readonly: bool = False, lock: int | None = None):
        self.db = db
        self.lock = lock  # the open build.lock holding the build lock (writing builds)
        self.readonly = readonly  # `publisher check`: read what matches, write nothing
        self.stale_render = False  # read-only use with changed templates: ignore rendered rows
        self._index: IndexMap | None = None
        self._changed: set[str] = set()  # relpaths stored or forgotten since the index was read
        self._delta_rows = 0  # rows in index_delta when the index was read
        self._rewrite = False  # the stored index could not be read: write it whole
        self._meta: dict[str, str] = {}  # the meta table as this build left it

    @classmethod
    def open(
        cls, cache_dir: Path, meta_fingerprint: str, render_fingerprint: str, readonly: bool = False
    ) -> BuildCache:
        path = cache_dir / FILE_NAME
        if readonly and not path.is_file():
            return cls(None)
        if readonly:
            try:
                cache = cls(sqlite3.connect(f"file:{path}?mode=ro", uri=True), readonly)
                cache._prepare(meta_fingerprint, render_fingerprint, readonly)
                return cache
            except sqlite3.DatabaseError:
                return cls(None)
        with writing_into("cache_dir", cache_dir):
            cache_dir.mkdir(parents=True, exist_ok=True)
            lock = _lock(cache_dir / LOCK_NAME)
        try:
            with writing_into("cache_dir", cache_dir, sqlite3.Error):
                try:
                    cache = cls(sqlite3.connect(path), lock=lock)
                    cache._prepare(meta_fingerprint, render_fingerprint, readonly)
                except sqlite3.DatabaseError:
                    path.unlink(missing_ok=True)  # damaged (or unopenable): start afresh
                    cache = cls(sqlite3.connect(path), lock=lock)
                    cache._prepare(meta_fingerprint, render_fingerprint, readonly)
            return cache
        except BaseException:
            os.close(lock)
            raise

    def _prepare(self, meta_fp: str, render_fp: str, readonly: bool) -> None:
        assert self.db is not None
        if readonly:  # use what matches, change nothing
            meta = dict(self.db.execute("SELECT key, value FROM meta"))
            if meta.get("schema") != SCHEMA_VERSION or meta.get("meta") != meta_fp:
                self.close()
            self.stale_render = meta.get("render") != render_fp
            self._meta = meta  # use_cascade compares with it
            return
        self.db.executescript("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;" + _SCHEMA)
        meta = dict(self.db.execute("SELECT key, value FROM meta"))
        if meta.get("schema") != SCHEMA_VERSION:
            self.db.executescript(
                "DROP TABLE IF EXISTS posts; DROP TABLE IF EXISTS blobs; DROP TABLE IF EXISTS post_data;"
                "DROP TABLE IF EXISTS rendered; DROP TABLE IF EXISTS index_delta;"
                "DROP TABLE IF EXISTS feeds; DROP TABLE IF EXISTS written;" + _SCHEMA
            )
        elif meta.get("meta") != meta_fp:
            self.db.executescript("DELETE FROM blobs; DELETE FROM index_delta; DELETE FROM rendered;")
        if meta.get("render") != render_fp or meta.get("schema") != SCHEMA_VERSION:
            self.db.executescript("DELETE FROM rendered; DELETE FROM feeds;")
        stamps = {"schema": SCHEMA_VERSION, "meta": meta_fp, "render": render_fp}
        # Only what differs: a build that changes nothing leaves the database file alone.
        self._write(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", [kv for kv in stamps.items() if meta.get(kv[0]) != kv[1]]
        )
        self._meta = {**meta, **stamps}

    # -- posts ---------------------------------------------------------------------------
    def has_index(self) -> bool:
        """Whether an earlier build left an index (so this one only re-reads what changed)."""
        if self.db is None:
            return False
        query = "SELECT EXISTS (SELECT 1 FROM blobs WHERE name = 'index') OR EXISTS (SELECT 1 FROM index_delta)"
        return bool(self.db.execute(query).fetchone()[0])

    def index(self) -> IndexMap:
        """Every cached post: its stamp, and either its index or its problems."""
        if self._index is None:
            try:
                self._index = self._read_index()
            except Exception:
                self._index, self._rewrite = {}, True
        return self._index

    def _read_index(self) -> dict:
        if self.db is None:
            return {}
        row = self.db.execute("SELECT data FROM blobs WHERE name = 'index'").fetchone()
        new = tuple.__new__  # a PostIndex from its fields, running no Python code per entry
        plain = (
            {rel: (stamp, new(PostIndex, e) if e else None, p) for rel, stamp, e, p in pickle.loads(row[0])}
            if row
            else {}
        )
        delta = self.db.execute("SELECT relpath, data FROM index_delta").fetchall()
        for rel, data in delta:
            if data is None:
                plain.pop(rel, None)
            else:
                plain[rel] = pickle.loads(data)
        self._delta_rows = len(delta)
        return plain

    def store_posts(self, results: Iterable[ParseResult]) -> None:
        """Remember fresh parses: (relpath, stamp, index entry, problems)."""
        index = self.index()
        for rel, stamp, entry, problems in results:
            self._changed.add(rel)
            index[rel] = (stamp, entry, [(p.line, p.message) for p in problems])

    def forget_posts(self, relpaths: Iterable[str]) -> None:
        index = self.index()
        rows = [(r,) for r in relpaths]
        for (rel,) in rows:
            index.pop(rel, None)
            self._changed.add(rel)
        self._write("DELETE FROM rendered WHERE relpath = ?", rows)

    def use_cascade(self, digest: str) -> bool:
        """Whether the cached posts were read with this cascade (what section pages hand down,
        `cascade.Cascade.digest`). If not, they are forgotten, with their renderings and the
        feeds they fed, as a change of settings forgets them."""
        if self.db is None or self._meta.get("cascade", "") == digest:
            return True
        self._index, self._changed, self._rewrite = {}, set(), True
        if self.readonly:
            self.stale_render = True
            return False
        self.db.executescript("DELETE FROM blobs; DELETE FROM index_delta; DELETE FROM rendered; DELETE FROM feeds;")
        self._delta_rows = 0
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", [("cascade", digest)])
        self._meta["cascade"] = digest
        return False

    # -- rendered HTML -----------------------------------------------------------------------
    def rendered(self, wanted: dict[str, tuple[int, int]]) -> dict[str, RenderedPost]:
        """The rendered item of each wanted post whose file is unchanged since it was rendered."""
        if self.db is None or self.stale_render:
            return {}
        out = {}
        for rel, stamp in wanted.items():
            sql = "SELECT size, mtime_ns, item FROM rendered WHERE relpath = ?"
            row = self.db.execute(sql, (rel,)).fetchone()
            if row and (row[0], row[1]) == stamp:
                out[rel] = pickle.loads(row[2])
        return out

    def store_rendered(self, items: Iterable[tuple[tuple[int, int], RenderedPost]]) -> None:
        rows = [
            (item.post.relpath, size, mtime, pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
            for (size, mtime), item in items
        ]
        self._write("INSERT OR REPLACE INTO rendered VALUES (?, ?, ?, ?)", rows)

    def keep_rendered(self, relpaths: set[str]) -> None:
        """Drop renderings of posts that no longer appear in any feed (keeps the file small)."""
        if self.db is None:
            return
        stale = [(r,) for (r,) in self.db.execute("SELECT relpath FROM rendered") if r not in relpaths]
        self._write("DELETE FROM rendered WHERE relpath = ?", stale)

    # -- feeds and owned files ---------------------------------------------------------------
    def feed_signatures(self) -> dict[str, tuple[str, str]]:
        """Each feed family's (signature, files) as the last build wrote it."""
        if self.db is None or self.stale_render:
            return {}
        rows = self.db.execute("SELECT key, signature, files FROM feeds")
        return {key: (signature, files) for key, signature, files in rows}

    def store_feed_signatures(self, signatures: dict[str, tuple[str, str]]) -> None:
        self._write("INSERT OR REPLACE INTO feeds VALUES (?, ?, ?)", [(k, *v) for k, v in signatures.items()])

    def written(self, root: str) -> set[str]:
        """The files (relative to `root`) the last build wrote or kept in `root`; none when that
        build wrote elsewhere: after output_dir changes, the new folder's files are not ours."""
        if self.db is None or self._meta.get("written_root") != root:
            return set()
        return {p for (p,) in self.db.execute("SELECT path FROM written")}

    def set_written(self, paths: set[str], root: str) -> None:
        if self.db is None or self.readonly or (self._meta.get("written_root") == root and paths == self.written(root)):
            return
        self.db.execute("DELETE FROM written")
        self._write("INSERT INTO written VALUES (?)", [(p,) for p in sorted(paths)])
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", [("written_root", root)])
        self._meta["written_root"] = root

    def _write(self, sql: str, rows: list) -> None:
        if self.db is not None and rows and not self.readonly:
            self.db.executemany(sql, rows)

    def stage_index(self) -> None:
        """Write the post index's changes into the open transaction (commit makes them durable).
        A build calls this while its workers write feeds, so the final commit has little left."""
        if self.db is None or self.readonly or not self._changed:
            return
        index = self.index()
        small = self._delta_rows + len(self._changed) <= max(DELTA_MIN, len(index) // DELTA_FRACTION)
        if small and not self._rewrite:
            rows = [
                (rel, pickle.dumps(index[rel], pickle.HIGHEST_PROTOCOL) if rel in index else None)
                for rel in self._changed
            ]
            self.db.executemany("INSERT OR REPLACE INTO index_delta VALUES (?, ?)", rows)
            self._delta_rows += len(rows)  # an upper bound: a row may have been replaced
        else:
            # Plain tuples load in half the time of the mapping of PostIndex objects.
            rows = [(rel, stamp, tuple(e) if e else None, p) for rel, (stamp, e, p) in index.items()]
            blob = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
            self.db.execute("INSERT OR REPLACE INTO blobs VALUES ('index', ?)", (blob,))
            self.db.execute("DELETE FROM index_delta")
            self._delta_rows, self._rewrite = 0, False
        self._changed = set()

    def commit(self) -> None:
        if self.db is None or self.readonly:
            return
        self.stage_index()
        self.db.commit()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
        if self.lock is not None:
            os.close(self.lock)  # releases the build lock
            self.lock = None


def _lock(path: Path) -> int:
    """Take the site's build lock, waiting (and saying so) while another build holds it."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            import logging

            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            logging.getLogger(__name__).warning(
                "another build of this site is running (pid %s); waiting for it to finish (lock: %s)", holder, path
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd
