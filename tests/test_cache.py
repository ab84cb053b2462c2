"""The build cache's post index: small changes go to delta rows, large ones rewrite the blob,
and either way a fresh open reads back exactly what was stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from publisher import cache as cache_mod
from publisher.cache import FILE_NAME, BuildCache
from publisher.errors import Problem
from publisher.models import PostIndex


def entry(rel: str, size: int = 100) -> tuple[str, tuple[int, int], PostIndex, list[Problem]]:
    index = PostIndex(rel, (size, 1), rel, f"https://example.com/{rel}/", 1.0, 1.0, None, False, ("t",), ())
    return (rel, (size, 1), index, [])


def reopen(path: Path) -> BuildCache:
    return BuildCache.open(path, "meta", "render")


def stored(path: Path) -> dict[str, tuple[int, int]]:
    cache = reopen(path)
    try:
        return {rel: stamp for rel, (stamp, _, _) in cache.index().items()}
    finally:
        cache.close()


def one_build(path: Path, results: list, forgotten: set[str] = frozenset()) -> None:
    """What a build does to the index: store fresh parses, forget vanished files, commit."""
    cache = reopen(path)
    cache.store_posts(results)
    cache.forget_posts(forgotten)
    cache.commit()
    cache.close()


def delta_rows(path: Path) -> int:
    with sqlite3.connect(path / FILE_NAME) as db:
        return db.execute("SELECT count(*) FROM index_delta").fetchone()[0]


def test_small_changes_are_delta_rows_and_read_back(tmp_path) -> None:
    n = cache_mod.DELTA_MIN * 2
    one_build(tmp_path, [entry(f"p{i}.md") for i in range(n)])
    assert delta_rows(tmp_path) == 0  # a first build writes the whole index

    one_build(tmp_path, [entry("p0.md", size=7), entry("new.md")], forgotten={"p1.md"})
    assert delta_rows(tmp_path) == 3

    expected = {f"p{i}.md": (100, 1) for i in range(2, n)} | {"p0.md": (7, 1), "new.md": (100, 1)}
    assert stored(tmp_path) == expected


def test_many_changes_fold_the_delta_into_the_blob(tmp_path) -> None:
    n = cache_mod.DELTA_MIN * 2
    one_build(tmp_path, [entry(f"p{i}.md") for i in range(n)])
    for size in (5, 6):  # a few small builds, then one that changes everything
        one_build(tmp_path, [entry("p0.md", size=size)])
    assert delta_rows(tmp_path) >= 1
    bad = ("bad.md", (1, 1), None, [Problem("bad.md", 2, "no title")])
    one_build(tmp_path, [*(entry(f"p{i}.md", size=9) for i in range(n)), bad])
    assert delta_rows(tmp_path) == 0
    assert stored(tmp_path) == {f"p{i}.md": (9, 1) for i in range(n)} | {"bad.md": (1, 1)}
    cache = reopen(tmp_path)
    assert cache.index()["bad.md"][2] == [(2, "no title")]
    back = cache.index()["p3.md"][1]  # read from the blob: a PostIndex again, every field intact
    assert type(back) is PostIndex and back == entry("p3.md", size=9)[2]
    assert back.status(2.0) == "published" and back.tags == ("t",)
    cache.close()


def test_unreadable_index_is_rewritten_whole(tmp_path) -> None:
    one_build(tmp_path, [entry("a.md")])
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        db.execute("INSERT OR REPLACE INTO blobs VALUES ('index', ?)", (b"not a pickle",))
    cache = reopen(tmp_path)
    assert cache.index() == {}  # damaged: treated as empty, never as an error
    cache.store_posts([entry("a.md")])
    cache.commit()
    cache.close()
    assert delta_rows(tmp_path) == 0
    assert stored(tmp_path) == {"a.md": (100, 1)}


def test_index_entries_unpickle_as_post_index_without_running_its_constructor(tmp_path, monkeypatch) -> None:
    # The index blob holds 10,000 entries: each must come back as the same PostIndex, made by
    # tuple.__new__ in C rather than NamedTuple's Python __new__.
    rel, stamp, index, _ = entry("posts/a.md")
    one_build(tmp_path, [(rel, stamp, index, [])])
    made = []
    monkeypatch.setattr(PostIndex, "__new__", lambda *a, **k: made.append(a) or tuple.__new__(*a))
    cache = reopen(tmp_path)
    try:
        loaded = cache.index()[rel][1]
    finally:
        cache.close()
    assert type(loaded) is PostIndex and loaded == index and loaded.tags == ("t",)
    assert made == []
