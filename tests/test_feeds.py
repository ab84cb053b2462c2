"""The feed files, as a feed reader sees them: parsed back with feedparser."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import feedparser
import pytest
from lxml import etree

from publisher.publishing import build
from tests.conftest import NOW, post_text

SAMPLES = ["posts/2026-01-05-groq-nvidia-prefill-decode.md", "posts/2026-01-06-all-in-year-end-review.md"]
GROQ_TITLE = "Groq 攜手 NVIDIA：Chamath 親解「Pre-fill 與 Decode」的架構之爭"


def parse(path: Path) -> feedparser.FeedParserDict:
    feed = feedparser.parse(path.read_bytes())
    assert not feed.bozo, f"{path}: {feed.get('bozo_exception')}"
    return feed


def all_feed_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())


@pytest.fixture
def sample_site(make_site):
    config = make_site(data=SAMPLES)
    build(config, now=NOW)
    return config


def test_site_feeds_in_hugo_layout(sample_site) -> None:
    out = sample_site.output_dir
    names = {p.relative_to(out).as_posix() for p in all_feed_files(out)}
    for prefix in ("", "tags/ai晶片/", "tags/chamath-palihapitiya/", "categories/ai-產業/", "categories/科技趨勢/"):
        assert {prefix + "index.xml", prefix + "atom.xml", prefix + "feed.json"} <= names


def test_every_xml_feed_parses_cleanly_with_cjk_intact(sample_site) -> None:
    for path in all_feed_files(sample_site.output_dir):
        if path.suffix == ".xml":
            feed = parse(path)
            assert feed.entries, path
            titles = [e.title for e in feed.entries]
            assert all(t for t in titles)
    rss = parse(sample_site.output_dir / "index.xml")
    assert rss.version == "rss20"
    assert [e.title for e in rss.entries][1] == GROQ_TITLE
    atom = parse(sample_site.output_dir / "atom.xml")
    assert atom.version == "atom10"
    assert atom.entries[1].title == GROQ_TITLE


def test_rss_item_fields(sample_site) -> None:
    feed = parse(sample_site.output_dir / "index.xml")
    assert feed.feed.title == "Test Blog"
    assert feed.feed.link == "https://blog.example.com/"
    assert feed.feed.language == "zh-TW"
    self_links = [link.href for link in feed.feed.links if link.rel == "self"]
    assert self_links == ["https://blog.example.com/index.xml"]
    _newest, older = feed.entries
    url = "https://blog.example.com/posts/2026-01-05-groq-nvidia-prefill-decode/"
    assert older.link == url
    assert older.id == url
    assert f'<guid isPermaLink="true">{url}</guid>' in (sample_site.output_dir / "index.xml").read_text()
    assert older.summary.startswith("為什麼 NVIDIA 願意與潛在競爭對手 Groq 合作？")
    assert "<h2" in older.content[0].value
    assert {t.term for t in older.tags} == {"Groq", "NVIDIA", "AI晶片", "Chamath Palihapitiya", "LLM", "AI 產業"}
    assert datetime(*older.published_parsed[:6], tzinfo=UTC) == datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
    raw = (sample_site.output_dir / "index.xml").read_text()
    assert "<pubDate>Mon, 05 Jan 2026 12:00:00 +0800</pubDate>" in raw
    assert "<lastBuildDate>Tue, 06 Jan 2026 12:00:00 +0800</lastBuildDate>" in raw  # newest item, not now()


def test_atom_entry_fields(sample_site) -> None:
    feed = parse(sample_site.output_dir / "atom.xml")
    entry = feed.entries[1]
    assert entry.id == "https://blog.example.com/posts/2026-01-05-groq-nvidia-prefill-decode/"
    assert entry.published == "2026-01-05T12:00:00+08:00"
    assert entry.updated == "2026-01-05T12:00:00+08:00"
    assert feed.feed.updated == "2026-01-06T12:00:00+08:00"
    assert entry.content[0].type == "text/html"


def test_a_post_without_prose_still_has_its_content_in_content_encoded(make_site) -> None:
    # feedgen puts an item's content in <description> when it has no description, and drops
    # content:encoded: a post of only headings and code gets its title as its summary, and one
    # whose <!--more--> comes first gets its opening prose.
    fence = "`" * 3
    config = make_site(
        {
            "posts/code.md": post_text("Only code", body=f"## 設定\n\n{fence}sh\nmake run\n{fence}\n"),
            "posts/more.md": post_text("More first", date="2026-01-11", body="<!--more-->\n\nBody text."),
        }
    )
    build(config, now=NOW)
    raw = etree.fromstring((config.output_dir / "index.xml").read_bytes())
    namespace = {"content": "http://purl.org/rss/1.0/modules/content/"}
    descriptions = {item.findtext("title"): item.findtext("description") for item in raw.iter("item")}
    assert descriptions == {"Only code": "Only code", "More first": "Body text."}
    contents = [item.findtext("content:encoded", namespaces=namespace) for item in raw.iter("item")]
    assert [c.strip()[:4] for c in contents] == ["<p>B", "<h2>"]
    summaries = {e.title: e.summary for e in parse(config.output_dir / "atom.xml").entries}
    assert summaries == descriptions


def test_json_feed(sample_site) -> None:
    doc = json.loads((sample_site.output_dir / "tags/ai晶片/feed.json").read_text(encoding="utf-8"))
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["feed_url"] == "https://blog.example.com/tags/ai%E6%99%B6%E7%89%87/feed.json"
    assert doc["home_page_url"] == "https://blog.example.com/tags/ai%E6%99%B6%E7%89%87/"
    (item,) = doc["items"]
    assert item["title"] == GROQ_TITLE
    assert item["date_published"] == "2026-01-05T12:00:00+08:00"
    assert item["external_url"] == "https://www.youtube.com/watch?v=bhpd4NeTbCI"
    assert "AI晶片" in item["tags"]


def test_term_feed_self_link_is_percent_encoded(sample_site) -> None:
    feed = parse(sample_site.output_dir / "tags/ai晶片/index.xml")
    self_link = next(link.href for link in feed.feed.links if link.rel == "self")
    assert self_link == "https://blog.example.com/tags/ai%E6%99%B6%E7%89%87/index.xml"
    assert feed.feed.title == "AI晶片 - Test Blog"


def test_escaping_in_titles_tags_and_bodies(make_site) -> None:
    title = "Tom & Jerry <b>\"quoted\"</b> 'single' 🎉"
    config = make_site(
        {
            "posts/esc.md": post_text(
                title=title, tags=["C++ & <Rust>", "emoji 🎉"], body='5 < 6 & 7 > 3, <em>raw</em> "q" 😀'
            )
        }
    )
    build(config, now=NOW)
    for name in ("index.xml", "atom.xml"):
        feed = parse(config.output_dir / name)
        (entry,) = feed.entries
        assert entry.title == title
        assert {t.term for t in entry.tags} == {"C++ & <Rust>", "emoji 🎉"}
        assert "5 &lt; 6 &amp; 7 &gt; 3, <em>raw</em>" in entry.content[0].value
        assert "😀" in entry.content[0].value
    doc = json.loads((config.output_dir / "feed.json").read_text(encoding="utf-8"))
    assert doc["items"][0]["title"] == title
    assert (config.output_dir / "tags/c++-rust/index.xml").is_file()


@pytest.mark.parametrize(
    "post",
    [
        post_text(description="Use `Vec<String>` & S&B; 2>&1 <b>x</b>"),
        post_text(body="Use `Vec<String>` & S&B; 2>&1 <b>x</b>\n"),  # an automatic summary
    ],
)
def test_a_summary_reads_as_written_in_every_reader(make_site, post) -> None:
    # RSS <description> and Atom <summary type="html"> are HTML: a reader that renders them
    # must show the summary's text, <String> included (escaped once, it was an unknown tag).
    from lxml import html as lxml_html

    config = make_site({"posts/a.md": post})
    build(config, now=NOW)
    for name in ("index.xml", "atom.xml"):
        (entry,) = parse(config.output_dir / name).entries
        shown = lxml_html.fragment_fromstring(entry.summary, create_parent="div").text_content()
        assert "Vec<String>" in shown and "S&B; 2>&1" in shown, name
    (item,) = json.loads((config.output_dir / "feed.json").read_text(encoding="utf-8"))["items"]
    assert "Vec<String>" in item["summary"]


def test_content_urls_are_absolute(make_site) -> None:
    body = "See [the other post](../other/) and ![pic](pic.png) and [home](/)."
    config = make_site({"posts/hello.md": post_text(body=body)})
    build(config, now=NOW)
    content = parse(config.output_dir / "index.xml").entries[0].content[0].value
    assert 'href="https://blog.example.com/posts/other/"' in content
    assert 'src="https://blog.example.com/posts/hello/pic.png"' in content
    assert 'href="https://blog.example.com/"' in content


def test_newest_first_and_limited_to_feed_length(make_site) -> None:
    files = {f"posts/p{i}.md": post_text(title=f"P{i}", date=f"2026-01-{10 + i:02d}", tags=["t"]) for i in range(6)}
    config = make_site(files, feed_length=4)
    build(config, now=NOW)
    for name in ("index.xml", "atom.xml", "tags/t/index.xml", "tags/t/atom.xml"):
        assert [e.title for e in parse(config.output_dir / name).entries] == ["P5", "P4", "P3", "P2"]
    doc = json.loads((config.output_dir / "feed.json").read_text())
    assert [i["title"] for i in doc["items"]] == ["P5", "P4", "P3", "P2"]


def test_guid_is_stable_when_a_post_is_edited(make_site) -> None:
    config = make_site({"posts/hello.md": post_text(title="First title")})
    build(config, now=NOW)
    before = parse(config.output_dir / "atom.xml").entries[0]
    path = config.content_dir / "posts/hello.md"
    path.write_text(post_text(title="Edited title", body="New body.", lastmod="2026-01-20"), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    build(config, now=NOW)
    after = parse(config.output_dir / "atom.xml").entries[0]
    assert after.title == "Edited title"
    assert after.id == before.id == "https://blog.example.com/posts/hello/"
    assert after.updated_parsed > before.updated_parsed


def test_unpublished_posts_appear_nowhere(make_site) -> None:
    files = {
        "posts/live.md": post_text(title="Live", tags=["shared"]),
        "posts/draft.md": post_text(title="Draft", draft=True, tags=["shared", "secret-draft"]),
        "posts/future.md": post_text(title="Future", date="2026-03-01", tags=["shared", "secret-future"]),
        "posts/later.md": post_text(title="Later", publishDate="2026-12-01", tags=["shared"]),
        "posts/expired.md": post_text(title="Expired", expiryDate="2026-01-31", tags=["shared", "secret-expired"]),
    }
    config = make_site(files)
    build(config, now=NOW)
    out = config.output_dir
    assert not (out / "tags/secret-draft").exists()
    assert not (out / "tags/secret-future").exists()
    assert not (out / "tags/secret-expired").exists()
    for path in all_feed_files(out):
        text = path.read_text(encoding="utf-8")
        for hidden in ("Draft", "Future", "Later", "Expired"):
            assert f"{hidden}<" not in text and f'"{hidden}"' not in text, (path, hidden)
    assert [e.title for e in parse(out / "tags/shared/index.xml").entries] == ["Live"]


def test_a_feed_with_no_posts_yet_is_dated_when_written_and_then_left_alone(make_site) -> None:
    config = make_site({"posts/soon.md": post_text(title="Soon", draft=True)})
    build(config, now=NOW)
    out = config.output_dir
    rss, atom = parse(out / "index.xml"), parse(out / "atom.xml")
    assert not rss.entries and not atom.entries
    written = NOW.astimezone(UTC).timetuple()[:6]
    assert rss.feed.updated_parsed[:6] == written  # lastBuildDate
    assert atom.feed.updated_parsed[:6] == written
    stamps = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in all_feed_files(out)}
    report = build(config, now=datetime(2026, 3, 1, tzinfo=UTC))  # still no post: nothing rewritten
    assert report.written == []
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in all_feed_files(out)} == stamps


def test_files_are_world_readable_and_no_temp_files_remain(sample_site) -> None:
    for path in all_feed_files(sample_site.output_dir):
        assert not path.name.startswith("."), path
        assert path.stat().st_mode & 0o044 == 0o044, path


VALIDATOR = os.environ.get("FEEDVALIDATOR")  # e.g. "python tests/w3c_feedvalidator.py --checkout DIR"


@pytest.mark.skipif(not VALIDATOR, reason="set FEEDVALIDATOR to a W3C feedvalidator command to run")
@pytest.mark.parametrize("drafts_only", [False, True], ids=["samples", "no-posts-yet"])
def test_w3c_feed_validator_accepts_every_feed(make_site, drafts_only) -> None:
    """The W3C validator (fetched beside the project, never committed) is the judge of our feeds."""
    if drafts_only:
        config = make_site({"posts/soon.md": post_text(title="Soon", draft=True)})
    else:
        config = make_site(data=SAMPLES)
    build(config, now=NOW)
    out = config.output_dir
    files = [p for p in all_feed_files(out) if p.suffix == ".xml"]
    bases = []
    for path in files:
        bases += ["--base", "https://blog.example.com/" + quote(path.relative_to(out).as_posix())]
    result = subprocess.run(
        [*shlex.split(VALIDATOR), "--strict", *bases, *map(str, files)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_feed_links_with_websub_hubs(make_site) -> None:
    hubs = ["https://hub.example.net/", "https://pubsubhubbub.appspot.com/"]
    config = make_site({"posts/a.md": post_text(title="A")}, websub_hubs=hubs)
    build(config, now=NOW)
    out, base = config.output_dir, config.base_url
    atom_ns = "{http://www.w3.org/2005/Atom}"

    channel = etree.parse(str(out / "index.xml")).getroot().find("channel")
    assert channel.findtext("link") == base  # RSS <link>: the site's page, not a feed
    rss_links = [(el.get("rel"), el.get("href"), el.get("type")) for el in channel.findall(f"{atom_ns}link")]
    assert rss_links == [("self", base + "index.xml", "application/rss+xml")] + [("hub", h, None) for h in hubs]

    atom = etree.parse(str(out / "atom.xml")).getroot()
    atom_links = [(el.get("rel"), el.get("href")) for el in atom.findall(f"{atom_ns}link")]
    assert atom_links == [("self", base + "atom.xml"), *[("hub", h) for h in hubs], ("alternate", base)]

    assert [h["url"] for h in json.loads((out / "feed.json").read_text())["hubs"]] == hubs


def test_feed_files_take_the_mode_the_umask_allows_and_the_umask_is_never_changed(tmp_path) -> None:
    # Read from /proc, not by setting it: a web server thread creating a file at that instant
    # would otherwise get a world-writable one.
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "os.umask(0o027)\n"
        "from publisher import feeds\n"
        "seen = []\n"
        "real = os.umask\n"
        "os.umask = lambda mask: seen.append(mask) or real(mask)\n"
        "path = Path(sys.argv[1])\n"
        "feeds.write_if_changed(path, b'<rss/>')\n"
        "print(oct(path.stat().st_mode & 0o777), seen)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "index.xml")], capture_output=True, text=True)
    assert result.stdout.split() == ["0o640", "[]"], result.stderr


def test_the_author_address_is_the_rss_managing_editor(make_site) -> None:
    config = make_site(data=SAMPLES, author={"name": "編輯 & Co", "email": "editor@example.com"})
    build(config, now=NOW)
    rss = (config.output_dir / "index.xml").read_text(encoding="utf-8")
    assert "<managingEditor>editor@example.com (編輯 &amp; Co)</managingEditor>" in rss
    feed = feedparser.parse(rss)
    assert not feed.bozo and feed.feed.author_detail.email == "editor@example.com"
    unnamed = make_site(data=SAMPLES, author={"name": "編輯"})
    build(unnamed, now=NOW)
    assert "managingEditor" not in (unnamed.output_dir / "index.xml").read_text(encoding="utf-8")


def test_every_item_names_an_author_in_every_format(make_site) -> None:
    # A post's own authors, else the site's: Hugo's RSS names it in every item, and readers such
    # as newsboat show no author for an Atom entry that leaves it to the feed.
    files = {"posts/mine.md": post_text("Mine", author="林小姐"), "posts/site.md": post_text("Site", date="2026-01-09")}
    config = make_site(files, author={"name": "編輯 & Co", "email": "editor@example.com"})
    build(config, now=NOW)
    out = config.output_dir
    rss, atom = parse(out / "index.xml"), parse(out / "atom.xml")
    assert not rss.bozo and not atom.bozo
    by_title = {e.title: e for e in rss.entries}
    assert by_title["Site"].author_detail.email == "editor@example.com"
    assert by_title["Site"].author_detail.name == "編輯 & Co"
    assert by_title["Mine"].author == "林小姐"
    assert {e.title: e.author_detail.name for e in atom.entries} == {"Mine": "林小姐", "Site": "編輯 & Co"}
    assert "<email>editor@example.com</email>" in (out / "atom.xml").read_text(encoding="utf-8").split("<entry>")[-1]
    items = json.loads((out / "feed.json").read_text(encoding="utf-8"))["items"]
    assert {i["title"]: i["authors"] for i in items} == {"Mine": [{"name": "林小姐"}], "Site": [{"name": "編輯 & Co"}]}
    # Without an address, RSS names the site's author in dc:creator (its <author> is an address).
    unnamed = make_site(files, author={"name": "編輯"})
    build(unnamed, now=NOW)
    assert {e.title: e.author for e in parse(unnamed.output_dir / "index.xml").entries} == {
        "Mine": "林小姐",
        "Site": "編輯",
    }


TERM_POSTS = {
    "posts/a.md": post_text(
        "A", date="2025-12-30T09:00:00+08:00", tags=["AI 晶片", "Foo Bar"], categories=["投資 觀點"]
    ),
    "posts/b.md": post_text("B", date="2026-01-02T09:00", tags=["Foo Bar"]),
}


def _index_feeds(out: Path) -> set[str]:
    return {p.relative_to(out).parent.as_posix() for p in out.rglob("index.xml")}


@pytest.mark.parametrize(
    "permalinks",
    [
        {"tags": "/topic/:slug/", "categories": "/:year/:sections/:title/"},  # Hugo's older, plain form
        {"term": {"tags": "/topic/:slug/", "categories": "/:year/:sections/:title/", "series": "/s/:slug/"}},
    ],
)
def test_term_feeds_live_where_the_blogs_permalinks_put_its_term_pages(make_site, permalinks) -> None:
    config = make_site(TERM_POSTS, permalinks=permalinks)
    build(config, now=NOW)
    # As Hugo 0.111 lays out this blog (`[permalinks] tags = ...`): a term's date is its newest post's
    expected = {".", "topic/ai-晶片", "topic/foo-bar", "2025/categories/投資-觀點"}
    assert _index_feeds(config.output_dir) == expected
    feed = parse(config.output_dir / "topic/foo-bar/index.xml")
    assert feed.feed.link == "https://blog.example.com/topic/foo-bar/"
    assert [link.href for link in feed.feed.links if link.rel == "self"] == [
        "https://blog.example.com/topic/foo-bar/index.xml"
    ]
    assert [e.title for e in feed.entries] == ["B", "A"]


def test_term_feeds_in_the_same_folders_as_hugos(make_site, tmp_path) -> None:
    import shutil

    if shutil.which("hugo") is None:
        pytest.skip("hugo is not installed (apt-get install hugo)")
    permalinks = {"tags": "/topic/:slug/", "categories": "/:year/:sections/:title/"}
    config = make_site(TERM_POSTS, permalinks=permalinks)
    build(config, now=NOW)
    site = tmp_path / "hugo"
    shutil.copytree(config.content_dir, site / "content")
    (site / "layouts/_default").mkdir(parents=True)
    (site / "layouts/_default/list.html").write_text("-")
    (site / "layouts/_default/single.html").write_text("-")
    lines = [f'{k} = "{v}"' for k, v in permalinks.items()]
    (site / "hugo.toml").write_text('baseURL = "https://blog.example.com/"\n[permalinks]\n' + "\n".join(lines) + "\n")
    subprocess.run(["hugo", "--quiet", "--source", str(site)], check=True, capture_output=True)
    hugo = {p for p in _index_feeds(site / "public") if p.split("/")[0] not in ("posts", "tags", "categories")}
    assert _index_feeds(config.output_dir) == hugo
