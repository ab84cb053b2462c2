"""The build cache: what earlier builds learned, so a rebuild only parses and renders what changed.

Keyed on each file's (size, mtime_ns); stamped with fingerprints of the config and the
templates so any change there invalidates exactly what depends on it. A cache that is
missing, stale or unreadable is simply empty: it can never change the output.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from publisher.errors import Problem
from publisher.models import Post

FORMAT = 1
FILE_NAME = "build.pickle"


@dataclass
class Entry:
    stamp: tuple[int, int]
    post: Post | None = None
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Rendered:
    stamp: tuple[int, int]
    html: str
    summary: str


@dataclass
class BuildCache:
    meta_fingerprint: str = ""
    render_fingerprint: str = ""
    entries: dict[str, Entry] = field(default_factory=dict)
    rendered: dict[str, Rendered] = field(default_factory=dict)
    feeds: dict[str, str] = field(default_factory=dict)  # feed key -> signature of its inputs
    written: set[str] = field(default_factory=set)  # output files this tool owns

    @classmethod
    def load(cls, cache_dir: Path, meta_fingerprint: str) -> BuildCache:
        try:
            with open(cache_dir / FILE_NAME, "rb") as f:
                fmt, cache = pickle.load(f)
            if fmt != FORMAT or not isinstance(cache, cls):
                return cls(meta_fingerprint)
        except FileNotFoundError:
            return cls(meta_fingerprint)
        except Exception:
            return cls(meta_fingerprint)
        if cache.meta_fingerprint != meta_fingerprint:
            return cls(meta_fingerprint, written=cache.written)
        return cache

    def set_render_fingerprint(self, fingerprint: str) -> None:
        """Templates or rendering changed: forget rendered HTML and feed signatures."""
        if fingerprint != self.render_fingerprint:
            self.rendered.clear()
            self.feeds.clear()
            self.render_fingerprint = fingerprint

    def save(self, cache_dir: Path) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".build.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump((FORMAT, self), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, cache_dir / FILE_NAME)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
