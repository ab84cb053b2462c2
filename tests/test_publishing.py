"""The build use case: incremental, idempotent, and never stopped by one bad post."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from publisher import cache as cache_mod
from publisher import publishing
from publisher.cache import FILE_NAME, LOCK_NAME
from publisher.publishing import build, check
from tests.conftest import NOW, post_text


def snapshot(out: Path) -> dict[str, tuple[int, bytes]]:
    return {
        p.relative_to(out).as_posix(): (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()
    }


def bump_mtime(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def test_rebuild_with_no_change_touches_nothing(make_site) -> None:
    config = make_site({"posts/a.md": post_text(title="A", tags=["x"]), "posts/b.md": post_text(title="B")})
    first = build(config, now=NOW)
    assert len(first.written) == 3 * 2  # site + tags/x
    before = snapshot(config.output_dir)
    again = build(config, now=NOW)
    assert again.written == [] and again.unchanged == 6
    assert snapshot(config.output_dir) == before


def test_cold_build_stamps_every_post_so_the_next_build_parses_none(make_site) -> None:
    # With nothing cached, discover skips stat() and the parsing side fills the stamps in.
    config = make_site({"posts/a.md": post_text(title="A"), "posts/b/index.md": post_text(title="B")})
    build(config, now=NOW)
    totals: dict[str, int] = {}

    def progress(label: str, total: int):
        totals[label] = total
        return lambda n: None

    build(config, now=NOW, progress=progress)
    assert totals["Reading posts"] == 0


def test_lost_cache_rewrites_nothing(make_site) -> None:
    config = make_site({"posts/a.md": post_text(title="A", tags=["x"])})
    build(config, now=NOW)
    before = snapshot(config.output_dir)
    shutil.rmtree(config.cache_dir)
    assert build(config, now=NOW).written == []
    assert snapshot(config.output_dir) == before


def test_a_feed_damaged_behind_our_back_is_written_again(make_site) -> None:
    # A crash before the disk had the bytes, a hand edit, a half-done copy: the next build
    # restores the file, though nothing in content/ changed.
    config = make_site({"posts/a.md": post_text(title="A", tags=["x"]), "posts/b.md": post_text(title="B")})
    build(config, now=NOW)
    before = snapshot(config.output_dir)
    out = config.output_dir
    (out / "tags/x/atom.xml").write_bytes(b"")  # truncated
    (out / "index.xml").write_bytes(before["index.xml"][1].replace(b"<title>A</title>", b"<title>Z</title>"))
    report = build(config, now=NOW)
    assert sorted(report.written) == ["index.xml", "tags/x/atom.xml"]
    assert {rel: data for rel, (_, data) in snapshot(out).items()} == {rel: d for rel, (_, d) in before.items()}
    # A file only touched (same bytes) is compared, not rewritten; then the build is quiet again.
    os.utime(out / "feed.json")
    assert build(config, now=NOW).written == []
    again = snapshot(out)
    assert build(config, now=NOW).written == [] and snapshot(out) == again


def test_damaged_cache_is_ignored(make_site) -> None:
    config = make_site({"posts/a.md": post_text(title="A")})
    build(config, now=NOW)
    (config.cache_dir / FILE_NAME).write_bytes(b"not a pickle")
    report = build(config, now=NOW)
    assert report.ok and report.written == []


def test_new_post_rewrites_only_affected_feeds(make_site) -> None:
    config = make_site({"posts/a.md": post_text(title="A", tags=["x"]), "posts/b.md": post_text(title="B", tags=["y"])})
    build(config, now=NOW)
    (config.content_dir / "posts/c.md").write_text(post_text(title="C", date="2026-01-20", tags=["x"]))
    report = build(config, now=NOW)
    assert sorted(report.written) == sorted(
        ["index.xml", "atom.xml", "feed.json", "tags/x/index.xml", "tags/x/atom.xml", "tags/x/feed.json"]
    )
    assert "C" in (config.output_dir / "tags/x/index.xml").read_text()


def test_edited_post_is_reparsed(make_site) -> None:
    config = make_site({"posts/a.md": post_text(title="Old")})
    build(config, now=NOW)
    path = config.content_dir / "posts/a.md"
    path.write_text(post_text(title="New"))
    bump_mtime(path)
    build(config, now=NOW)
    assert "<title>New</title>" in (config.output_dir / "index.xml").read_text()


def test_template_change_rebuilds_items(make_site, tmp_path) -> None:
    templates = tmp_path / "site" / "t"
    templates.mkdir(parents=True)
    (templates / "feed_item.html").write_text("<div>v1 {{ content }}</div>")
    config = make_site({"posts/a.md": post_text()}, templates_dir="t")
    build(config, now=NOW)
    (templates / "feed_item.html").write_text("<div>v2 {{ content }}</div>")
    build(config, now=NOW)
    assert "v2" in (config.output_dir / "index.xml").read_text()


def test_feeds_of_vanished_terms_are_removed(make_site) -> None:
    config = make_site({"posts/a.md": post_text(tags=["gone"])})
    build(config, now=NOW)
    assert (config.output_dir / "tags/gone/index.xml").is_file()
    path = config.content_dir / "posts/a.md"
    path.write_text(post_text(tags=["kept"]))
    bump_mtime(path)
    report = build(config, now=NOW)
    assert sorted(report.removed) == ["tags/gone/atom.xml", "tags/gone/feed.json", "tags/gone/index.xml"]
    assert not (config.output_dir / "tags/gone").exists()
    assert (config.output_dir / "tags/kept/index.xml").is_file()


def test_after_output_dir_changes_only_files_written_there_are_ever_removed(make_site) -> None:
    # The files remembered as ours are paths inside the old output_dir: the same paths in the
    # new folder belong to someone else, and the old folder is left as it was.
    config = make_site({"posts/a.md": post_text(tags=["go"])}, output_dir="one")
    build(config, now=NOW)
    foreign = config.path.parent / "two/tags/go/index.xml"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("someone else's")
    path = config.content_dir / "posts/a.md"
    path.write_text(post_text(tags=["rust"]))
    bump_mtime(path)
    moved = make_site(output_dir="two")
    report = build(moved, now=NOW)
    assert report.removed == []
    assert foreign.read_text() == "someone else's"
    assert (config.path.parent / "one/tags/go/index.xml").is_file()
    assert (moved.output_dir / "tags/rust/index.xml").is_file()
    path.write_text(post_text(tags=["zig"]))  # from now on, two/'s own stale feeds are cleaned
    bump_mtime(path)
    assert sorted(build(moved, now=NOW).removed) == ["tags/rust/atom.xml", "tags/rust/feed.json", "tags/rust/index.xml"]


def test_a_build_that_changes_nothing_leaves_the_cache_files_alone(make_site) -> None:
    # `publisher run` watching a content_dir that holds cache_dir must not see its own builds.
    config = make_site({"posts/a.md": post_text(tags=["t"])})
    build(config, now=NOW)
    build(config, now=NOW)

    def database_files() -> dict[str, tuple[int, int]]:  # (build.lock names each build's pid)
        return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in config.cache_dir.glob(f"{FILE_NAME}*")}

    before = database_files()
    build(config, now=NOW)
    assert database_files() == before and before


def test_foreign_files_in_output_are_left_alone(make_site) -> None:
    config = make_site({"posts/a.md": post_text(tags=["t"])})
    (config.output_dir / "tags/other").mkdir(parents=True)
    (config.output_dir / "tags/other/index.xml").write_text("hugo's")
    build(config, now=NOW)
    assert (config.output_dir / "tags/other/index.xml").read_text() == "hugo's"


def test_broken_post_does_not_stop_the_others(make_site) -> None:
    config = make_site({"posts/good.md": post_text(title="Good"), "posts/bad.md": "---\ntitle: [unclosed\n---\n"})
    report = build(config, now=NOW)
    assert not report.ok
    (problem,) = report.site.problems
    assert str(problem).endswith(
        "posts/bad.md:2: invalid YAML front matter: while parsing a flow sequence did not find expected ',' or ']'"
    )
    assert "<title>Good</title>" in (config.output_dir / "index.xml").read_text()


def test_scheduled_post_appears_once_its_time_comes(make_site) -> None:
    from datetime import timedelta

    config = make_site({"posts/soon.md": post_text(title="Soon", date="2026-02-01T13:00:00+08:00")})
    build(config, now=NOW)
    assert "Soon" not in (config.output_dir / "index.xml").read_text()
    build(config, now=NOW + timedelta(hours=2))
    assert "Soon" in (config.output_dir / "index.xml").read_text()


def test_check_writes_nothing(make_site) -> None:
    config = make_site({"posts/a.md": post_text(), "posts/d.md": post_text(title="D", draft=True)})
    report = check(config, now=NOW)
    assert report.ok
    assert len(report.site.published) == 1 and len(report.site.with_status("draft")) == 1
    assert not config.output_dir.exists()
    assert not config.cache_dir.exists()


def test_parallel_build_writes_what_a_serial_one_does(make_site, monkeypatch) -> None:
    # Real sites past a few hundred posts parse, render and write feeds in forked workers;
    # force that path on a small site and compare with the in-process one.
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: builds never fork workers")
    files = {
        f"posts/p{i:02d}.md": post_text(title=f"P{i}", date=f"2026-01-{i % 28 + 1:02d}", tags=[f"t{i % 5}", "all"])
        for i in range(40)
    }
    files["posts/broken.md"] = "---\ntitle: [unclosed\n---\n"
    config = make_site(files)
    serial = build(config, now=NOW)
    expected = {rel: data for rel, (_, data) in snapshot(config.output_dir).items()}
    shutil.rmtree(config.output_dir)
    shutil.rmtree(config.cache_dir)

    monkeypatch.setattr(publishing, "PARALLEL_PARSE_MIN", 1)
    monkeypatch.setattr(publishing, "PARALLEL_RENDER_MIN", 1)
    monkeypatch.setattr(publishing, "PARALLEL_FEEDS_MIN", 1)
    prepared = []
    real_prepare = publishing._prepare_rendering
    monkeypatch.setattr(publishing, "_prepare_rendering", lambda: (prepared.append(1), real_prepare()))
    parallel = build(config, now=NOW)
    assert prepared == [1]  # the workers' path ran, and its meanwhile step once
    assert {rel: data for rel, (_, data) in snapshot(config.output_dir).items()} == expected
    assert [str(p) for p in parallel.site.problems] == [str(p) for p in serial.site.problems]

    totals: dict[str, int] = {}

    def progress(label: str, total: int):
        totals[label] = total
        return lambda n: None

    build(config, now=NOW, progress=progress)  # the workers' stamps were cached
    assert totals["Reading posts"] == 0


def test_fresh_process_rebuild_shares_the_work_with_a_helper(make_site) -> None:
    # A fresh `publisher build` with a warm cache forks a helper that imports the rendering
    # libraries while the parent plans; it renders the changed post and writes half the feeds.
    # The files must be exactly those a cold build of the same content writes.
    files = {
        f"posts/p{i}.md": post_text(title=f"P{i}", date=f"2026-01-{i + 1:02d}", tags=[f"t{i % 3}"]) for i in range(9)
    }
    config = make_site(files)
    command = [sys.executable, "-m", "publisher", "--config", str(config.path), "build", "--timings"]
    first = subprocess.run(command, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "helper process: 0 jobs" in first.stdout  # cold: no cache, no helper
    (config.content_dir / "posts/new.md").write_text(post_text(title="New", date="2026-02-01", tags=["t1", "t2"]))
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    # 1 post rendered; 3 families changed (site, t1, t2): the helper writes every other one.
    assert "helper process: 2 jobs" in again.stdout
    rebuilt = {rel: data for rel, (_, data) in snapshot(config.output_dir).items()}
    shutil.rmtree(config.output_dir)
    shutil.rmtree(config.cache_dir)
    build(config)
    assert {rel: data for rel, (_, data) in snapshot(config.output_dir).items()} == rebuilt


def test_builds_of_one_site_take_turns_and_the_second_finds_the_work_done(make_site) -> None:
    # An operator's `publisher build` while `publisher run` builds: the later one waits for the
    # lock, says so, and then has nothing left to write.
    config = make_site({"posts/a.md": post_text(title="A")})
    build(config)
    (config.content_dir / "posts/b.md").write_text(post_text(title="B", date="2026-01-19"), encoding="utf-8")
    holder = cache_mod._lock(config.cache_dir / LOCK_NAME)  # a build in progress, here
    command = [sys.executable, "-m", "publisher", "--config", str(config.path), "build"]
    waiting = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for proc in waiting:
            ready, _, _ = select.select([proc.stderr], [], [], 30)
            assert ready, "no word from a build waiting for the lock"
            line = proc.stderr.readline()
            assert f"another build of this site is running (pid {os.getpid()}); waiting" in line
            assert proc.poll() is None
        assert "<title>B</title>" not in (config.output_dir / "index.xml").read_text(encoding="utf-8")
    finally:
        os.close(holder)
    outputs = [proc.communicate(timeout=60) for proc in waiting]
    assert [proc.returncode for proc in waiting] == [0, 0], outputs
    written = sorted(int(re.search(r"(\d+) files written", out).group(1)) for out, _ in outputs)
    assert written == [0, 3]  # the site's RSS, Atom and JSON once; the other build found them done
    assert "<title>B</title>" in (config.output_dir / "index.xml").read_text(encoding="utf-8")


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupting_a_parallel_build_stops_it_and_its_workers_at_once(make_site, signum) -> None:
    # Ctrl-C reaches the whole process group, a service manager's stop too: the build must end
    # promptly with no traceback, no worker left running and no temporary file left behind.
    body = "Paragraph with **bold** and a [link](/x/).\n\n" * 40
    # 300 tag feeds of 20 posts: every post is rendered, seconds of work, so the signal always
    # lands mid-build (with 40 tags a fast machine sometimes finished first).
    files = {f"posts/p{i:04d}.md": post_text(title=f"P{i}", tags=[f"t{i % 300}"], body=body) for i in range(6000)}
    config = make_site(files)
    command = [sys.executable, "-m", "publisher", "--config", str(config.path), "build"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    workers = _children(proc.pid)
    assert len(workers) >= 2, "the build never started its worker processes"
    os.killpg(proc.pid, signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode in (1, 128 + signum, -signum), err
    assert "Traceback" not in err and "Error" not in err, err
    deadline = time.monotonic() + 5
    while any(_running(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_running(w) for w in workers)
    assert not list(config.output_dir.rglob("*.tmp")) if config.output_dir.exists() else True


def test_the_helper_runs_only_where_rendering_is_not_loaded_yet(make_site) -> None:
    import publisher.feeds  # noqa: F401  (as in the daemon, after its first build)

    config = make_site({"posts/a.md": post_text(title="A")})
    with publishing._helper(config) as helper:
        assert helper is None


def test_the_cached_index_stores_each_term_once(make_site) -> None:
    # Thousands of posts name the same few dozen terms: parsing interns them, so the index
    # blob holds (and a rebuild loads) one string per term rather than one per post.
    files = {f"posts/p{i:03d}.md": post_text(title=f"P{i}", tags=["AI晶片", "NVIDIA"]) for i in range(300)}
    config = make_site(files)
    build(config, now=NOW)
    cache = publishing.open_cache(config, readonly=True)
    try:
        index = cache.index()
    finally:
        cache.close()
    tags = [t for _, entry, _ in index.values() for t in entry.tags]
    assert len(tags) == 600 and len({id(t) for t in tags}) == 2
