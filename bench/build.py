"""Benchmark `publisher build` against Hugo on the same generated corpus.

Both tools read one shared ``content/posts`` tree and write a home feed plus one
feed per tag and per category (20 items, full content).  Each tool is timed on a
cold build (fresh output, no caches) and on a rebuild after one new post is added;
wall time and the child's peak RSS (``os.wait4``) are reported with the
publisher/Hugo ratios and the targets.

Run from the repository root, with the interpreter that can import ``publisher``::

    .venv/bin/python bench/build.py            # 10000 posts
    .venv/bin/python bench/build.py --quick    # 500 posts
    .venv/bin/python bench/build.py --tools hugo --keep --workdir /tmp/bench

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEEDS = REPO_ROOT / "content" / "posts"  # the sample posts the corpus imitates
TZ = timezone(timedelta(hours=8))
CORPUS_START = datetime(2019, 1, 1, tzinfo=TZ)
CORPUS_END = datetime(2025, 12, 31, tzinfo=TZ)
NEW_POST_DATE = datetime(2026, 1, 1, 9, 0, tzinfo=TZ)
FEED_LENGTH = 20
FEED_NAMES = ("index.xml", "atom.xml", "feed.json")
TOOLS = ("publisher", "hugo")
TARGET_COLD = 1.0
TARGET_INCREMENTAL = 0.1
TARGET_MEMORY = 1.0

# What any fresh `publisher build` pays before its first stat: the interpreter and the libraries
# a rebuild must load (the CLI, the front matter parsers, Markdown, templates, feeds). Measured
# beside each incremental build and reported as its ratio to Hugo's, for context.
FLOOR_IMPORTS = "import click, yaml, frontmatter, markdown, jinja2, feedgen.feed, lxml.html"

TAGS = (
    "Groq",
    "NVIDIA",
    "AI晶片",
    "Chamath Palihapitiya",
    "LLM",
    "All-In Podcast",
    "美國經濟",
    "AI趨勢",
    "OpenAI",
    "Anthropic",
    "Google",
    "Microsoft",
    "Apple",
    "Tesla",
    "Elon Musk",
    "Jensen Huang",
    "David Sacks",
    "David Friedberg",
    "Jason Calacanis",
    "半導體",
    "台積電",
    "供應鏈",
    "地緣政治",
    "創投",
    "新創",
    "總體經濟",
    "利率",
    "通膨",
    "債券市場",
    "加密貨幣",
    "Bitcoin",
    "能源",
    "核能",
    "資料中心",
    "雲端運算",
    "開源模型",
    "推論成本",
    "機器人",
    "自駕車",
    "Kubernetes",
    "Python",
    "Rust",
    "Open Source",
    "Product Management",
    "Startup Funding",
    "Machine Learning",
    "生產力",
    "領導力",
    "教育",
    "醫療科技",
)
CATEGORIES = ("AI 產業", "科技趨勢", "投資觀點", "Podcast 筆記", "Engineering")
SOURCES = (
    ("All-In Podcast", "https://www.youtube.com/watch?v="),
    ("Lex Fridman Podcast", "https://www.youtube.com/watch?v="),
    ("Acquired", "https://www.acquired.fm/episodes/"),
    ("Stratechery", "https://stratechery.com/"),
    ("BG2 Pod", "https://open.spotify.com/episode/"),
)
SLUG_WORDS = (
    "ai",
    "chips",
    "groq",
    "nvidia",
    "decode",
    "prefill",
    "market",
    "review",
    "economy",
    "energy",
    "startup",
    "model",
    "inference",
    "cloud",
    "robots",
    "policy",
    "debt",
    "tsmc",
)
TITLE_PHRASES = (
    "架構之爭的下一步",
    "年終關鍵回顧",
    "被低估的真正瓶頸",
    "投資人怎麼看",
    "從一集 Podcast 看懂產業變局",
    "成本曲線的雪崩",
    "What Comes Next",
    "五個值得注意的訊號",
    "A Closer Look",
    "台灣供應鏈的機會",
)
HEADINGS = (
    "為什麼這件事重要",
    "技術細節：從原理說起",
    "市場的反應",
    "投資人的觀點",
    "What the numbers say",
    "反方意見",
    "對台灣的意義",
    "結語",
    "Key takeaways",
    "背景：一段簡短的歷史",
    "成本與效率的拔河",
    "The bigger picture",
)
ENGLISH = (
    (
        "The core argument is simple: inference is becoming the dominant workload, and the "
        "hardware that wins inference will not necessarily be the hardware that won training. "
        "Memory bandwidth, not raw FLOPS, sets the ceiling for token generation."
    ),
    (
        'As one of the hosts put it, "we are moving from a world of scarcity to a world of '
        'abundance in compute", and the companies that price for abundance will take share '
        "from the ones that still price for scarcity."
    ),
    (
        "None of this is guaranteed. Supply chains are fragile, export controls keep shifting, "
        "and the capital required to build a new fab is measured in tens of billions of dollars."
    ),
    (
        "In practice, most teams will not notice the architecture underneath. They will notice "
        "latency, price per million tokens, and whether the API stays up during a product launch."
    ),
    (
        "The episode closes with a prediction: within two years, the cost of running a frontier "
        "model will fall by an order of magnitude, and the interesting question becomes what we "
        "build once intelligence is cheap."
    ),
)
LIST_ITEMS = (
    "**Pre-fill（閱讀）**：模型一次讀取整段 Prompt，需要大量平行運算。",
    "**Decode（寫作）**：逐字生成回答，瓶頸在記憶體頻寬。",
    "**成本**：每百萬 token 的價格在一年內下降超過十倍。",
    "**Latency**: time to first token matters more than throughput for chat products.",
    "**供應鏈**：先進封裝與 HBM 產能仍是最大的限制。",
    "**Policy**: export controls reshape where data centers get built.",
)
CODE_BLOCKS = (
    (
        "```python\ndef tokens_per_second(bandwidth_gb: float, model_gb: float) -> float:\n"
        "    return bandwidth_gb / model_gb\n\nprint(tokens_per_second(3350, 140))\n```"
    ),
    "```bash\ncurl -s https://api.example.com/v1/models | jq '.data[].id'\n```",
    '```json\n{"model": "llama-70b", "prefill_ms": 120, "decode_tok_s": 250}\n```',
)
FALLBACK_PARAGRAPHS = (
    "這可能是近期 AI 硬體圈最令人震驚的消息之一：NVIDIA 宣佈與 AI 晶片新創 Groq 達成戰略合作。",
    (
        "要理解這次合作的意義，首先得理解大型語言模型是如何思考的。Pre-fill 與 Decode 這兩個術語"
        "聽起來生硬，但它們精準地描述了 AI 處理任務的兩個截然不同的階段。"
    ),
    (
        "這時，運算的瓶頸不再是「算力」，而是「記憶體頻寬」。因為每生成一個字，資料就必須在晶片的"
        "運算單元和記憶體（HBM）之間來回搬運一次。"
    ),
    (
        "David Sacks 犀利地指出，這不是單純的管理疏失，而是一個系統性的問題；資金被輸送給特定族群，"
        "再透過政治獻金回流，形成一個完美的利益閉環。"
    ),
    (
        "Chamath 總結道，美國正處於一個「熔爐時刻」。舊有的政治體制正在因為腐敗和債務而自我毀滅，"
        "但同時，一個基於算力、演算法和新能源的全新經濟體正在崛起。"
    ),
)

HUGO_CONFIG = """\
baseURL = "https://example.com/"
title = "Bench"
languageCode = "zh-TW"
timeZone = "Asia/Taipei"
contentDir = {content}
cacheDir = {cache}
disableKinds = ["sitemap", "robotsTXT", "404", "section", "taxonomy"]
# Hugo logs disabling "taxonomy" (the /tags/ list page) as an ERROR unless told not to.
ignoreErrors = ["error-disable-taxonomy"]

[params]
description = "bench"

[services.rss]
limit = {limit}

[taxonomies]
tag = "tags"
category = "categories"

# Home and term pages produce RSS only.
[outputs]
home = ["RSS"]
term = ["RSS"]

# Posts get a permalink (used in the feeds) but no HTML page of their own.
[[cascade]]
[cascade._build]
render = "link"
list = "always"
[cascade._target]
kind = "page"
"""

# Hugo's embedded RSS template with .Content instead of .Summary.
HUGO_RSS = """\
{{- $pctx := . -}}
{{- if .IsHome -}}{{ $pctx = .Site }}{{- end -}}
{{- $pages := $pctx.RegularPages -}}
{{- $limit := .Site.Config.Services.RSS.Limit -}}
{{- if ge $limit 1 -}}{{- $pages = $pages | first $limit -}}{{- end -}}
{{- printf "<?xml version=\\"1.0\\" encoding=\\"utf-8\\" standalone=\\"yes\\"?>" | safeHTML }}
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>{{ if eq .Title .Site.Title }}{{ .Site.Title }}{{ else }}\
{{ with .Title }}{{ . }} on {{ end }}{{ .Site.Title }}{{ end }}</title>
    <link>{{ .Permalink }}</link>
    <description>{{ .Site.Params.description }}</description>
    <language>{{ site.LanguageCode }}</language>
    {{- if not .Date.IsZero }}
    <lastBuildDate>{{ .Date.Format "Mon, 02 Jan 2006 15:04:05 -0700" | safeHTML }}</lastBuildDate>
    {{- end }}
    {{- with .OutputFormats.Get "RSS" }}
    {{ printf "<atom:link href=%q rel=\\"self\\" type=%q />" .Permalink .MediaType | safeHTML }}
    {{- end }}
    {{- range $pages }}
    <item>
      <title>{{ .Title }}</title>
      <link>{{ .Permalink }}</link>
      <pubDate>{{ .Date.Format "Mon, 02 Jan 2006 15:04:05 -0700" | safeHTML }}</pubDate>
      <guid>{{ .Permalink }}</guid>
      <description>{{ .Content | html }}</description>
    </item>
    {{- end }}
  </channel>
</rss>
"""

PUBLISHER_CONFIG = """\
title = "Bench"
description = "bench"
base_url = "https://example.com/"
language = "zh-TW"
timezone = "Asia/Taipei"
content_dir = {content}
output_dir = {output}
feed_length = {limit}

[author]
name = "Bench"
email = "bench@example.com"
"""


@dataclass(frozen=True)
class TextPool:
    """Building blocks for post bodies and titles."""

    paragraphs: tuple[str, ...]
    headings: tuple[str, ...]
    list_items: tuple[str, ...]
    titles: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class PostMeta:
    """What other posts need to know about a post (for links)."""

    slug: str
    title: str
    date: datetime


@dataclass(frozen=True)
class Run:
    """One measured child process."""

    wall: float
    maxrss_kb: int
    returncode: int


@dataclass
class ToolResult:
    """All measurements of one tool, and why it stopped if it failed."""

    runs: dict[str, list[Run]] = field(default_factory=lambda: {"cold": [], "incremental": []})
    error: str | None = None

    def median_wall(self, phase: str) -> float | None:
        """Median wall seconds of a phase, or None if not measured."""
        runs = self.runs[phase]
        return statistics.median(r.wall for r in runs) if runs else None

    def median_rss_mb(self, phase: str) -> float | None:
        """Median peak RSS of a phase in MiB, or None if not measured."""
        runs = self.runs[phase]
        return statistics.median(r.maxrss_kb for r in runs) / 1024 if runs else None

    def peak_rss_mb(self) -> float | None:
        """Largest peak RSS over all runs in MiB, or None if nothing was measured."""
        values = [r.maxrss_kb for runs in self.runs.values() for r in runs]
        return max(values) / 1024 if values else None


@dataclass(frozen=True)
class Tool:
    """How to build one tool's site cold and warm."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    output: Path
    cold_extra: tuple[str, ...]
    cold_clean: tuple[Path, ...]


# --- corpus -------------------------------------------------------------------------------


def load_pool(seeds: Path | None) -> TextPool:
    """Read paragraphs, headings, list items and titles from the seed posts, if any."""
    paragraphs: list[str] = []
    headings: list[str] = list(HEADINGS)
    items: list[str] = list(LIST_ITEMS)
    titles: list[str] = []
    files = sorted(seeds.glob("*.md")) if seeds and seeds.is_dir() else []
    for path in files:
        text = path.read_text(encoding="utf-8")
        parts = text.split("\n---\n", 1) if text.startswith("---\n") else ["", text]
        if len(parts) != 2:
            continue
        front, body = parts
        match = re.search(r'^title:\s*"(.*)"\s*$', front, re.MULTILINE)
        if match:
            titles.append(match.group(1))
        for raw in re.split(r"\n\s*\n", body.strip()):
            block = raw.strip()
            lines = block.splitlines()
            if not block or "📎" in block or block.startswith("---"):
                continue
            if block.startswith("## "):
                headings.append(block[3:].strip())
            elif all(re.match(r"(-|\*|\d+\.)\s", line) for line in lines):
                items.extend(re.sub(r"^(-|\*|\d+\.)\s+", "", line) for line in lines)
            elif len(lines) == 1:
                paragraphs.append(block)
    source = f"{len(files)} seed posts in {seeds}" if paragraphs else "built-in paragraphs"
    return TextPool(
        paragraphs=tuple(paragraphs) or FALLBACK_PARAGRAPHS,
        headings=tuple(headings),
        list_items=tuple(items),
        titles=tuple(titles),
        source=source,
    )


def q(value: str) -> str:
    """Quote a string for YAML (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def make_meta(rng: random.Random, index: int, date: datetime) -> PostMeta:
    """Pick a slug and title for post number `index`."""
    words = "-".join(rng.sample(SLUG_WORDS, 2))
    slug = f"{date:%Y-%m-%d}-{words}-{index:05d}"
    a, b = rng.sample(TAGS, 2)
    title = f"{a} 與 {b}：{rng.choice(TITLE_PHRASES)}"
    return PostMeta(slug=slug, title=title, date=date)


def make_body(rng: random.Random, pool: TextPool, others: Sequence[PostMeta], size: int) -> str:
    """Markdown body of about `size` bytes: paragraphs, headings, links, a list, maybe code."""
    blocks: list[str] = []
    length = 0

    def add(block: str) -> None:
        nonlocal length
        blocks.append(block)
        length += len(block.encode()) + 2

    def paragraph() -> str:
        text = rng.choice(pool.paragraphs)
        roll = rng.random()
        if roll < 0.15 and others:
            other = rng.choice(others)
            text += f"延伸閱讀：[{other.title}](/posts/{other.slug}/)。"
        elif roll < 0.25:
            text += f"（參考：[原始資料](https://example.org/notes/{rng.randrange(10**6)})）"
        return text

    add(paragraph())
    add(paragraph())
    sections = 0
    code_section = 2 if rng.random() < 0.2 else -1
    while length < size:
        add("## " + rng.choice(pool.headings))
        for _ in range(rng.randint(2, 3)):
            add(paragraph())
        if rng.random() < 0.4:
            add(rng.choice(ENGLISH))
        if sections == 1:
            add("\n".join(f"- {item}" for item in rng.sample(pool.list_items, 3)))
        if sections == code_section:
            add(rng.choice(CODE_BLOCKS))
        sections += 1
    name, url = rng.choice(SOURCES)
    blocks.append(f"---\n📎 本文整理自《{name}》。\n- 原始連結：{url}{rng.randrange(10**8)}")
    return "\n\n".join(blocks) + "\n"


def render_post(rng: random.Random, pool: TextPool, meta: PostMeta, others: Sequence[PostMeta]) -> str:
    """Front matter plus body for one post, shaped like the seed posts."""
    tags = rng.sample(TAGS, rng.randint(3, 6))
    category = rng.choice(CATEGORIES)
    name, url = rng.choice(SOURCES)
    description = rng.choice(pool.paragraphs)[:90] + "…"
    body = make_body(rng, pool, others, rng.randint(5500, 7000))
    return (
        "---\n"
        f"title: {q(meta.title)}\n"
        f"date: {meta.date.isoformat()}\n"
        f"description: {q(description)}\n"
        f"tags: {json.dumps(tags, ensure_ascii=False)}\n"
        f"categories: {json.dumps([category], ensure_ascii=False)}\n"
        f"source_url: {q(url + str(rng.randrange(10**8)))}\n"
        f"source_name: {q(name)}\n"
        "draft: false\n"
        "---\n\n" + body
    )


def generate_corpus(posts_dir: Path, count: int, seed: int, pool: TextPool) -> list[PostMeta]:
    """Write `count` deterministic posts to `posts_dir`; return their metadata."""
    rng = random.Random(seed)
    span = int((CORPUS_END - CORPUS_START).total_seconds())
    dates = sorted(CORPUS_START + timedelta(seconds=rng.randrange(span)) for _ in range(count))
    metas = [make_meta(rng, i, date.replace(microsecond=0)) for i, date in enumerate(dates)]
    posts_dir.mkdir(parents=True)
    for meta in metas:
        text = render_post(rng, pool, meta, metas)
        (posts_dir / f"{meta.slug}.md").write_text(text, encoding="utf-8")
    return metas


def add_new_post(posts_dir: Path, number: int, seed: int, pool: TextPool, metas: Sequence[PostMeta]) -> Path:
    """Write one post newer than every other one; return its path."""
    rng = random.Random(f"{seed}-new-{number}")
    meta = make_meta(rng, 90000 + number, NEW_POST_DATE + timedelta(hours=number))
    path = posts_dir / f"{meta.slug}.md"
    path.write_text(render_post(rng, pool, meta, metas), encoding="utf-8")
    return path


# --- sites --------------------------------------------------------------------------------


def toml_str(value: object) -> str:
    """Quote a value as a TOML basic string (JSON escaping is compatible)."""
    return json.dumps(str(value))


def write_publisher_site(site: Path, content: Path, output: Path) -> Path:
    """Write publisher.toml; return its path."""
    site.mkdir(parents=True)
    config = site / "publisher.toml"
    text = PUBLISHER_CONFIG.format(content=toml_str(content), output=toml_str(output), limit=FEED_LENGTH)
    config.write_text(text, encoding="utf-8")
    return config


def write_hugo_site(site: Path, content: Path, cache: Path) -> None:
    """Write hugo.toml and the full-content RSS template."""
    layouts = site / "layouts" / "_default"
    layouts.mkdir(parents=True)
    text = HUGO_CONFIG.format(content=toml_str(content), cache=toml_str(cache), limit=FEED_LENGTH)
    (site / "hugo.toml").write_text(text, encoding="utf-8")
    (layouts / "rss.xml").write_text(HUGO_RSS, encoding="utf-8")


# --- measuring ----------------------------------------------------------------------------


def measure(cmd: Sequence[str], env: dict[str, str], log: Path) -> Run:
    """Run `cmd`, returning its wall time, peak RSS (KB) and exit code."""
    with log.open("ab") as out:
        out.write(f"$ {shlex.join(cmd)}\n".encode())
        out.flush()
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        except OSError as exc:
            out.write(f"cannot start: {exc}\n".encode())
            return Run(wall=0.0, maxrss_kb=0, returncode=127)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(wall=wall, maxrss_kb=usage.ru_maxrss, returncode=proc.returncode)


def remove(path: Path) -> None:
    """Delete a file or directory tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def log_tail(log: Path, lines: int = 12) -> str:
    """Last lines of a log file, indented."""
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return "\n".join("    " + line for line in text)


def run_phase(tool: Tool, phase: str, result: ToolResult, logs: Path) -> None:
    """Measure one build of `tool`; on failure record why and stop using the tool."""
    if result.error:
        return
    cmd = tool.cmd
    if phase == "cold":
        for path in tool.cold_clean:
            remove(path)
        cmd = [*cmd, *tool.cold_extra]
    log = logs / f"{tool.name}.log"
    run = measure(cmd, tool.env, log)
    if run.returncode != 0:
        result.error = (
            f"{tool.name} {phase} build failed (exit {run.returncode}); last lines of {log}:\n{log_tail(log)}"
        )
        print(f"  {tool.name:<9} {phase:<11} FAILED (exit {run.returncode})", flush=True)
        return
    result.runs[phase].append(run)
    print(
        f"  {tool.name:<9} {phase:<11} {run.wall:8.2f} s {run.maxrss_kb / 1024:8.1f} MiB",
        flush=True,
    )


def count_feeds(output: Path) -> dict[str, Counter[str]]:
    """Feed files under `output`, by file name, then by top-level directory."""
    counts: dict[str, Counter[str]] = {name: Counter() for name in FEED_NAMES}
    if not output.is_dir():
        return counts
    for name in FEED_NAMES:
        for path in output.rglob(name):
            parts = path.relative_to(output).parts
            counts[name][parts[0] if len(parts) > 1 else "root"] += 1
    return counts


# --- report -------------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    """Format a number, or 'n/a' when it was not measured."""
    return "n/a" if value is None else format(value, spec)


def ratio(a: float | None, b: float | None) -> float | None:
    """Return a / b, or None when either side is missing."""
    return None if a is None or b is None or b == 0 else a / b


def verdict(value: float | None, limit: float, strict: bool) -> str:
    """PASS/FAIL against a target, or SKIP when there is nothing to compare."""
    if value is None:
        return "SKIP"
    ok = value < limit if strict else value <= limit
    return "PASS" if ok else "FAIL"


def paired(pub: Sequence[Run], hugo: Sequence[Run]) -> str:
    """The run-by-run ratios (each publisher run against the Hugo run beside it), for how much
    the machine's drift moves the verdict's ratio of medians."""
    ratios = sorted(p.wall / h.wall for p, h in zip(pub, hugo, strict=False) if h.wall > 0)
    if not ratios:
        return "    (no pairs)"
    return (
        f"    (run by run: median {statistics.median(ratios):.3f},"
        f" range {ratios[0]:.3f}-{ratios[-1]:.3f} over {len(ratios)} pairs)"
    )


def report(
    results: dict[str, ToolResult], outputs: dict[str, Path], expected: int, floor: ToolResult | None = None
) -> bool:
    """Print the tables; return True when every target was measured and met."""
    print("\nResults (median of runs)")
    print(f"{'tool':<10} {'phase':<12} {'runs':>4} {'wall s':>9} {'peak MiB':>9}")
    for name, result in results.items():
        for phase, runs in result.runs.items():
            wall = fmt(result.median_wall(phase), ".2f")
            rss = fmt(result.median_rss_mb(phase), ".1f")
            print(f"{name:<10} {phase:<12} {len(runs):>4} {wall:>9} {rss:>9}")
    if floor is not None and floor.runs["incremental"]:
        runs, wall = len(floor.runs["incremental"]), floor.median_wall("incremental")
        print(f"{'(floor)':<10} {'imports':<12} {runs:>4} {wall:>9.2f}")

    print(f"\nFeed files written (expected index.xml feeds: {expected} = home + tags + categories)")
    for name, output in outputs.items():
        counts = count_feeds(output)
        parts = []
        for feed, by_dir in counts.items():
            detail = ", ".join(f"{d} {n}" for d, n in sorted(by_dir.items()))
            parts.append(f"{feed} {sum(by_dir.values())}" + (f" ({detail})" if detail else ""))
        print(f"  {name:<10} " + "; ".join(parts))

    pub, hugo = results.get("publisher"), results.get("hugo")
    rows = [
        ("cold time", "cold", "wall", TARGET_COLD, False),
        ("incremental time", "incremental", "wall", TARGET_INCREMENTAL, False),
        ("peak memory", None, "rss", TARGET_MEMORY, True),
    ]
    print("\nTargets (publisher / hugo)")
    all_pass = True
    for label, phase, kind, limit, strict in rows:
        if pub is None or hugo is None:
            value = None
        elif kind == "wall" and phase:
            value = ratio(pub.median_wall(phase), hugo.median_wall(phase))
        else:
            value = ratio(pub.peak_rss_mb(), hugo.peak_rss_mb())
        mark = verdict(value, limit, strict)
        all_pass = all_pass and mark == "PASS"
        op = "<" if strict else "<="
        print(f"  {label:<17} ratio {fmt(value, '.3f'):>7}  target {op} {limit:<4} {mark}")
        if kind == "wall" and phase and pub is not None and hugo is not None:
            print(paired(pub.runs[phase], hugo.runs[phase]))
    if floor is not None and hugo is not None:
        value = ratio(floor.median_wall("incremental"), hugo.median_wall("incremental"))
        print(f"  (floor: Python + imports) ratio {fmt(value, '.3f'):>7}  of Hugo's incremental time, for context")

    for result in results.values():
        if result.error:
            print(f"\n{result.error}")
    return all_pass


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--posts", type=int, default=10000, help="number of posts (10000)")
    size.add_argument("--quick", action="store_true", help="use 500 posts")
    parser.add_argument("--workdir", type=Path, help="where to build (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir afterwards")
    parser.add_argument(
        "--repeat",
        type=int,
        help="runs per measurement (default: 1 cold, 3 incremental)",
    )
    parser.add_argument("--seed", type=int, default=1234, help="corpus RNG seed (1234)")
    parser.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS, help="sample posts dir")
    parser.add_argument(
        "--publisher-cmd",
        help="command that runs publisher, e.g. '.venv/bin/publisher' (default: this interpreter with -m publisher)",
    )
    parser.add_argument("--hugo", default="hugo", help="hugo executable (hugo)")
    parser.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help="comma-separated subset of publisher,hugo",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.posts = 500
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(args.tools) - set(TOOLS)
    if unknown or not args.tools:
        parser.error(f"--tools: unknown {', '.join(sorted(unknown)) or '(empty)'}")
    if args.posts < 1 or (args.repeat is not None and args.repeat < 1):
        parser.error("--posts and --repeat must be at least 1")
    return args


def compile_bytecode(package: Path) -> None:
    """Write the package's .pyc files, as `pip install` does for an installed package: an
    editable install under PYTHONDONTWRITEBYTECODE=1 would compile every module on every run."""
    import compileall

    compileall.compile_dir(str(package), quiet=1)


def make_tools(args: argparse.Namespace, work: Path, content: Path) -> dict[str, Tool]:
    """Write each tool's site and describe how to run it."""
    tools: dict[str, Tool] = {}
    env = dict(os.environ)
    if "publisher" in args.tools:
        site, output = work / "publisher-site", work / "out-publisher"
        config = write_publisher_site(site, content, output)
        pub_env = dict(env)
        if args.publisher_cmd:
            base = shlex.split(args.publisher_cmd)
        else:
            base = [sys.executable, "-m", "publisher"]
            path = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
            pub_env["PYTHONPATH"] = path
        compile_bytecode(REPO_ROOT / "publisher")
        tools["publisher"] = Tool(
            name="publisher",
            cmd=[*base, "--config", str(config), "build"],
            env=pub_env,
            output=output,
            cold_extra=(),
            cold_clean=(output, site / ".publisher-cache"),
        )
    if "hugo" in args.tools:
        site, output, cache = work / "hugo-site", work / "out-hugo", work / "hugo-cache"
        write_hugo_site(site, content, cache)
        tools["hugo"] = Tool(
            name="hugo",
            cmd=[args.hugo, "--quiet", "-s", str(site), "-d", str(output)],
            env=env,
            output=output,
            cold_extra=("--ignoreCache",),
            cold_clean=(output, site / "resources", cache),
        )
    return tools


def floor_command(tool: Tool) -> list[str]:
    """The interpreter that runs `tool`'s publisher, importing what a rebuild imports."""
    python = sys.executable
    script = Path(tool.cmd[0])
    if script.is_file() and script.read_bytes()[:2] == b"#!":  # a console script: its interpreter
        python = script.read_bytes().split(b"\n", 1)[0][2:].decode().strip()
    elif tool.cmd[1:3] == ["-m", "publisher"]:
        python = tool.cmd[0]
    return [python, "-c", FLOOR_IMPORTS]


def hugo_version(exe: str) -> str | None:
    """`hugo version` output, or None when Hugo cannot be run."""
    try:
        done = subprocess.run([exe, "version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def prepare_workdir(args: argparse.Namespace) -> Path:
    """Create (or clear the bench's own parts of) the working directory."""
    if args.workdir is None:
        return Path(tempfile.mkdtemp(prefix="publisher-bench-"))
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    for name in (
        "content",
        "publisher-site",
        "out-publisher",
        "hugo-site",
        "out-hugo",
        "hugo-cache",
        "logs",
    ):
        remove(work / name)
    return work


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the corpus, build with each tool, print the comparison."""
    args = parse_args(argv)
    cold_repeat = args.repeat or 1
    incremental_repeat = args.repeat or 3

    if "hugo" in args.tools:
        version = hugo_version(args.hugo)
        if version is None:
            print(
                f"hugo not runnable as {args.hugo!r}; install it (apt-get install hugo) "
                "or pass --hugo PATH, or use --tools publisher",
                file=sys.stderr,
            )
            return 2
        print(version)
    if datetime.now(TZ) <= NEW_POST_DATE:
        print(
            f"warning: the clock is before {NEW_POST_DATE:%Y-%m-%d}; Hugo skips future posts",
            file=sys.stderr,
        )

    work = prepare_workdir(args)
    try:
        content = work / "content"
        posts_dir = content / "posts"
        logs = work / "logs"
        logs.mkdir()
        pool = load_pool(args.seeds)
        start = time.perf_counter()
        metas = generate_corpus(posts_dir, args.posts, args.seed, pool)
        size_mb = sum(p.stat().st_size for p in posts_dir.iterdir()) / 1e6
        print(
            f"corpus: {args.posts} posts, {size_mb:.1f} MB, from {pool.source}, "
            f"in {work} ({time.perf_counter() - start:.1f} s)"
        )

        tools = make_tools(args, work, content)
        results = {name: ToolResult() for name in tools}
        floor = ToolResult() if "publisher" in tools else None
        print(f"measuring: cold x{cold_repeat}, incremental x{incremental_repeat}")
        for _ in range(cold_repeat):
            for name, tool in tools.items():
                run_phase(tool, "cold", results[name], logs)
        for number in range(incremental_repeat):
            add_new_post(posts_dir, number, args.seed, pool, metas)
            for name, tool in tools.items():
                run_phase(tool, "incremental", results[name], logs)
            if floor is not None:
                run = measure(floor_command(tools["publisher"]), tools["publisher"].env, logs / "floor.log")
                if run.returncode == 0:
                    floor.runs["incremental"].append(run)

        expected = 1 + len(TAGS) + len(CATEGORIES)
        all_pass = report(results, {n: t.output for n, t in tools.items()}, expected, floor)
    finally:
        if args.keep:
            print(f"\nworkdir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if all_pass else 1


if __name__ == "__main__":
    sys.exit(main())
