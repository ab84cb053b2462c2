"""How long from a post file appearing to every feed that should list it being updated on disk.

Starts a real `publisher run` on a corpus (the one bench/build.py generates), waits for its
first build, then drops new posts one at a time and polls the feed files until all of them
(site + the post's tag and category feeds, RSS + Atom + JSON) contain the new title.
Target: under 2 seconds (the default debounce, 1 s, is part of it).

    .venv/bin/python bench/latency.py              # 2,000-post corpus, 5 posts
    .venv/bin/python bench/latency.py --posts 10000 --runs 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build as corpus

TARGET = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=2000, help="corpus size (2000)")
    parser.add_argument("--runs", type=int, default=5, help="posts dropped one by one (5)")
    parser.add_argument("--debounce", type=float, default=1.0, help="daemon.debounce_seconds (1.0)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="publisher-latency-"))
    content = work / "content"
    corpus.generate_corpus(content / "posts", args.posts, seed=1234, pool=corpus.load_pool(corpus.DEFAULT_SEEDS))
    site = work / "site"
    site.mkdir()
    config = site / "publisher.toml"
    config.write_text(
        f'title = "Latency"\nbase_url = "https://example.com/"\nlanguage = "zh-TW"\ntimezone = "Asia/Taipei"\n'
        f'content_dir = "{content}"\noutput_dir = "{work / "out"}"\n'
        f"[daemon]\ndebounce_seconds = {args.debounce}\n",
        encoding="utf-8",
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "publisher", "--config", str(config), "run", "--quiet"],
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    try:
        index = work / "out" / "index.xml"
        deadline = time.monotonic() + 600
        while not index.exists():
            if time.monotonic() > deadline or daemon.poll() is not None:
                print("the daemon's first build did not finish", file=sys.stderr)
                return 1
            time.sleep(0.1)
        time.sleep(1.0)
        latencies = []
        for run in range(args.runs):
            title = f"Latency probe {run} {os.getpid()}"
            tag = f"probe{run}"
            feeds = [work / "out" / name for name in ("index.xml", "atom.xml", "feed.json")]
            feeds += [work / "out" / "tags" / tag / name for name in ("index.xml", "atom.xml", "feed.json")]
            text = (
                f'---\ntitle: "{title}"\ndate: 2026-01-0{1 + run % 9}T0{run % 10}:00:00+08:00\n'
                f'tags: ["{tag}"]\ncategories: ["科技趨勢"]\n---\n\nA new post. 新文章。\n'
            )
            started = time.monotonic()
            (content / "posts" / f"zz-latency-{run}.md").write_text(text, encoding="utf-8")
            while not all(f.exists() and title in f.read_text(encoding="utf-8") for f in feeds):
                if time.monotonic() - started > 30:
                    print(f"run {run}: feeds not updated after 30 s", file=sys.stderr)
                    return 1
                time.sleep(0.01)
            latencies.append(time.monotonic() - started)
            print(f"  post {run}: {latencies[-1]:.3f} s")
            time.sleep(args.debounce + 0.5)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    median, worst = statistics.median(latencies), max(latencies)
    verdict = "PASS" if worst < TARGET else "FAIL"
    print(f"\ncorpus {args.posts} posts, debounce {args.debounce} s, {args.runs} posts dropped")
    print(
        f"file appears -> all feeds updated: median {median:.3f} s, worst {worst:.3f} s  target < {TARGET} s  {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
