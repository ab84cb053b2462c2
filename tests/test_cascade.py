"""Hugo's cascade: what a section's _index.md hands down to the posts below it, through real
builds whose feeds are parsed back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import feedparser

from publisher import cascade as cascade_mod
from publisher import posts
from publisher.publishing import build, check, current_site, load_site
from tests.conftest import NOW, post_text
from tests.test_publishing import bump_mtime, snapshot


def section(body: str, title: str = "Section") -> str:
    return f"---\ntitle: {title}\n{body}---\n"


def titles(config, feed: str = "index.xml") -> list[str]:
    return sorted(e.title for e in feedparser.parse((config.output_dir / feed).read_bytes()).entries)


def test_a_section_hidden_by_its_cascade_is_in_no_feed(make_site) -> None:
    config = make_site(
        {
            "posts/a.md": post_text("Public", tags=["x"]),
            "private/_index.md": section("cascade:\n  build:\n    list: never\n"),
            "private/b.md": post_text("Hidden", tags=["x"]),
            "drafts/_index.md": section("cascade:\n  draft: true\n"),
            "drafts/c.md": post_text("Draft", tags=["x"]),
        }
    )
    report = build(config, now=NOW)
    assert report.ok
    assert titles(config) == ["Public"] and titles(config, "tags/x/index.xml") == ["Public"]
    assert report.site.count("unlisted") == 1 and report.site.count("draft") == 1


def test_the_posts_own_front_matter_wins_then_the_nearest_section(make_site) -> None:
    config = make_site(
        {
            "_index.md": section("cascade:\n  author: Site Author\n  color: red\n"),
            "posts/_index.md": section("cascade:\n  author: Posts Author\n"),
            "posts/a.md": post_text("A"),
            "posts/b.md": post_text("B", author="Own Author"),
            "notes/c.md": post_text("C"),
        }
    )
    site = load_site(config, now=NOW)
    by_title = {p.title: p for p in site.posts}
    assert by_title["A"].authors == ("Posts Author",) and by_title["A"].params["color"] == "red"
    assert by_title["B"].authors == ("Own Author",)
    assert by_title["C"].authors == ("Site Author",)
    build(config, now=NOW)
    authors = {e.title: e.author for e in feedparser.parse((config.output_dir / "index.xml").read_bytes()).entries}
    assert "Posts Author" in authors["A"] and "Own Author" in authors["B"]


def test_a_target_limits_an_entry_to_the_pages_it_matches(make_site) -> None:
    config = make_site(
        {
            "posts/_index.md": section(
                "cascade:\n"
                "  - _target:\n      path: /posts/2025/**\n    draft: true\n"
                "  - target:\n      kind: section\n    author: Not For Pages\n"
                "  - _target:\n      lang: fr\n    author: Not In This Language\n"
                "  - _target:\n      path: /posts/bundle\n      environment: production\n    author: Bundle Author\n"
            ),
            "posts/2025/old.md": post_text("Old"),
            "posts/2026/new.md": post_text("New"),
            "posts/bundle/index.md": post_text("Bundle"),
        }
    )
    site = load_site(config, now=NOW)
    by_title = {p.title: p for p in site.posts}
    assert by_title["Old"].draft and not by_title["New"].draft
    assert by_title["New"].authors == () and by_title["Bundle"].authors == ("Bundle Author",)


def test_a_cascade_that_cant_be_read_holds_back_the_posts_below_it(make_site, monkeypatch) -> None:
    # Published without it, a post the cascade was meant to hide would be emailed.
    config = make_site(
        {
            "posts/_index.md": section("description: x\ncascade: 5\n"),
            "posts/a.md": post_text("A"),
            "notes/_index.md": section("cascade:\n  _target:\n    page: x\n  draft: true\n"),
            "notes/b.md": post_text("B"),
            "drafts/_index.md": "---\ntitle: [unclosed\ncascade:\n  draft: true\n---\n",
            "drafts/c.md": post_text("C"),
            "pages/_index.md": section("cascade:\n  author: Fine\n"),
            "pages/d.md": post_text("D"),
        }
    )
    monkeypatch.chdir(config.content_dir.parent)  # paths shown as the operator sees them
    report = build(config, now=NOW)
    problems = sorted(str(p) for p in report.site.problems)
    assert problems[0].startswith("content/drafts/_index.md:3: invalid YAML front matter")
    assert problems[1:] == [
        "content/drafts/c.md: held back until the cascade at content/drafts/_index.md:3 can be read (see there)",
        "content/notes/_index.md:3: a cascade's '_target' has an unknown key 'page'; use path, kind, lang, environment",
        "content/notes/b.md: held back until the cascade at content/notes/_index.md:3 can be read (see there)",
        "content/posts/_index.md:4: 'cascade' must be a table of front matter fields, or a list of such tables",
        "content/posts/a.md: held back until the cascade at content/posts/_index.md:4 can be read (see there)",
    ]
    assert not report.ok and titles(config) == ["D"]
    (config.content_dir / "notes/_index.md").write_text(section("cascade:\n  draft: true\n"))
    (config.content_dir / "posts/_index.md").write_text(section("cascade:\n  author: Fixed\n"))
    assert titles(config) == ["D"] and build(config, now=NOW).site.count("draft") == 1
    assert titles(config) == ["A", "D"]


def test_a_bad_cascaded_value_names_the_section_page_and_the_post(make_site, monkeypatch) -> None:
    config = make_site(
        {"posts/_index.md": section("cascade:\n  draft: maybe\n"), "posts/a.md": post_text("A"), "b.md": post_text("B")}
    )
    monkeypatch.chdir(config.content_dir.parent)
    report = build(config, now=NOW)
    assert [str(p) for p in report.site.problems] == [
        "content/posts/a.md: 'draft' must be true or false, not 'maybe'"
        " (set by the cascade at content/posts/_index.md:3)"
    ]
    assert not report.ok and titles(config) == ["B"]
    again = build(config, now=NOW)  # from the cache, the same words
    assert [str(p) for p in again.site.problems] == [str(p) for p in report.site.problems]


def test_a_cascade_edit_reaches_the_feeds_of_a_cached_build(make_site) -> None:
    config = make_site({"posts/_index.md": section(""), "posts/a.md": post_text("A"), "posts/b.md": post_text("B")})
    build(config, now=NOW)
    assert titles(config) == ["A", "B"]
    index = config.content_dir / "posts/_index.md"
    index.write_text(section("cascade:\n  build:\n    list: never\n"))
    bump_mtime(index)
    build(config, now=NOW)
    assert titles(config) == []
    index.write_text(section("cascade:\n  author: Back\n"))
    bump_mtime(index)
    build(config, now=NOW)
    assert titles(config) == ["A", "B"]
    before = snapshot(config.output_dir)
    assert build(config, now=NOW).written == [] and snapshot(config.output_dir) == before


def test_section_pages_without_a_cascade_are_not_parsed(make_site) -> None:
    # A section page is read, but only parsed when it mentions a cascade: a broken one costs nothing.
    config = make_site({"posts/_index.md": "---\ntitle: [unclosed\n---\n", "posts/a.md": post_text("A")})
    found = posts.discover(config.content_dir)
    cascade, problems = cascade_mod.load(found.sections)
    assert cascade.rules == () and problems == [] and cascade.digest() == ""


def test_check_and_the_read_only_site_see_a_cascade_edit_and_reuse_the_cache_otherwise(make_site) -> None:
    config = make_site({"private/_index.md": section("cascade:\n  draft: true\n"), "private/a.md": post_text("A")})
    build(config, now=NOW)
    totals: dict[str, int] = {}

    def progress(label: str, total: int):
        totals[label] = total
        return lambda n: None

    assert check(config, now=NOW, progress=progress).site.count("draft") == 1
    assert totals["Reading posts"] == 0  # the cached index, read with the same cascade
    (config.content_dir / "private/_index.md").write_text(section(""))
    assert current_site(config, now=NOW).count("published") == 1  # not the cached draft


def test_the_cascade_digest_is_the_same_from_any_folder_and_in_any_process(make_site, monkeypatch) -> None:
    # A build from another folder, or a new process (hash randomisation), must not flush the cache.
    config = make_site({"posts/_index.md": section("cascade:\n  tags: !!set {b: null, a: null}\n")})
    found = posts.discover(config.content_dir)
    here = cascade_mod.load(found.sections)[0].digest()
    monkeypatch.chdir(config.content_dir)
    assert cascade_mod.load(posts.discover(config.content_dir).sections)[0].digest() == here
    code = (
        "import sys; from publisher import cascade, posts; from pathlib import Path;"
        "print(cascade.load(posts.discover(Path(sys.argv[1])).sections)[0].digest())"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(Path(__file__).parent.parent)}
        out = subprocess.run(
            [sys.executable, "-c", code, str(config.content_dir)], env=env, capture_output=True, text=True
        )
        assert out.stdout.strip() == here, out.stderr


def test_target_conditions_are_globs_as_in_hugo(make_site) -> None:
    config = make_site(
        {
            "posts/_index.md": section(
                "cascade:\n"
                "  - _target:\n      kind: '{page,section}'\n    draft: true\n"
                "  - _target:\n      lang: '{fr,de}'\n      environment: '*'\n    author: Not Ours\n"
                "  - _target:\n      lang: '{en,fr}'\n      environment: '{production,staging}'\n    author: Ours\n"
            ),
            "posts/a.md": post_text("A"),
        }
    )
    (post,) = load_site(config, now=NOW).posts  # Hugo's language key is still "en" (languages)
    assert post.draft and post.authors == ("Ours",)
