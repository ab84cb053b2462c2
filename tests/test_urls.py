"""urls.urlize (Hugo's slug/term rule, made path-safe) and absolute post URLs."""

from __future__ import annotations

import random
from datetime import datetime

import pytest
from conftest import TAIPEI

from publisher import urls


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Chamath Palihapitiya", "chamath-palihapitiya"),
        ("AI 產業", "ai-產業"),
        ("AI晶片", "ai晶片"),
        ("C++", "c++"),
        ("  spaced  out ", "spaced-out"),
        ("Rock & Roll", "rock-roll"),
        ("a - b", "a-b"),
        ("a / b", "a-b"),
        ("../etc", "etc"),
        ("v1.2_beta~x@y#z", "v1.2_beta~x@y#z"),
        ("🚀 Launch!", "launch"),
        ("!!!", ""),
    ],
)
def test_urlize(text, expected):
    assert urls.urlize(text) == expected


@pytest.mark.parametrize("text", ["a / b", "../etc", "..\\..\\windows", "/etc/passwd", ".hidden", "./x", "a/../b"])
def test_urlize_never_builds_a_path(text):
    slug = urls.urlize(text)
    assert "/" not in slug and "\\" not in slug
    assert not slug.startswith(".")


def link(pattern: str, page: urls.PageName, when: datetime | None = None) -> str:
    when = when or datetime(2026, 1, 5, 12, tzinfo=TAIPEI)
    return urls.permalink("https://blog.example.com/", urls.compile_permalink(pattern), page, when)


PAGE = urls.PageName(slug="a", given="", name="a", title="Hello World", path="en/post")


def test_permalink_fills_fields_and_collapses_empty_folders():
    base = "https://blog.example.com/"
    top = PAGE._replace(path="")
    assert link("/{path}/{slug}/", top) == base + "a/"
    assert link("/{path}/{slug}/", PAGE) == base + "en/post/a/"
    assert link("/{section}/{slug}/", PAGE) == base + "en/a/"
    assert link("/{year}/{month}/{day}/{slug}/", PAGE) == base + "2026/01/05/a/"
    assert link("/{year}/{section}/{slug}/", top) == base + "2026/a/"


@pytest.mark.parametrize(
    ("pattern", "page", "path"),
    [
        # Hugo's :slug is the front matter slug, else the title; :slugorfilename is this project's {slug}
        ("/p/:slug/", PAGE, "p/hello-world/"),
        ("/p/:slug/", PAGE._replace(slug="given", given="given"), "p/given/"),
        ("/:slugorfilename/", PAGE, "a/"),
        ("/:year/:month/:title/", PAGE._replace(title="中文 標題"), "2026/01/中文-標題/"),
        ("/:sections/:filename/", PAGE._replace(name="My File"), "en/post/my-file/"),
        ("/:section/:yearday-:weekday-:weekdayname-:monthname/:slug/", PAGE, "en/5-1-Monday-January/hello-world/"),
        # Hugo adds the slashes a pattern leaves out, except before a file's extension
        (":contentbasename", PAGE, "a/"),
        ("/:year/:slug", PAGE, "2026/hello-world/"),
        ("/{section}/{slug}.html", PAGE, "en/a.html"),
    ],
)
def test_hugo_permalink_tokens_mean_what_they_mean_in_hugo(pattern, page, path):
    assert link(pattern, page) == urls.absolute("https://blog.example.com/", path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/posts/ai-產業/", "posts/ai-%E7%94%A2%E6%A5%AD/"),
        ("tags/c++/", "tags/c++/"),
        ("tags/c#/", "tags/c%23/"),
        ("tags/a b?/", "tags/a%20b%3F/"),
    ],
)
def test_absolute_percent_encodes(path, expected):
    assert urls.absolute("https://blog.example.com/", path) == "https://blog.example.com/" + expected


def test_urlize_fast_path_agrees_with_the_character_rules() -> None:
    # Clean ASCII slugs skip the per-character loop; both must give the same path.
    rng = random.Random(7)
    alphabet = "abcXYZ019._#+~@- /\\!?:%&é中\t"
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(5000)]
    samples += ["2026-01-05-groq", "..hidden", "A.B", "-x-", "\u212a", "c++", "v1.2.3"]
    fast = 0
    for text in samples:
        lower = text.lower()
        assert urls.urlize(text) == urls._urlize_chars(lower), text
        fast += bool(lower.isascii() and urls._CLEAN_ASCII.fullmatch(lower))
    assert fast > 100  # the fast path was exercised
