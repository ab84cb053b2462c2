"""Loading posts from content/: discovery, front matter, slugs, dates, status and rejections."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime

import pytest
from conftest import NOW, TAIPEI, post_text

from publisher import posts
from publisher.errors import PostError
from publisher.publishing import Site, load_site

GOOD = post_text("Good one", slug="good-one")
NO_TITLE = "front matter has no 'title': add a line like title: \"My post\"" + posts.NOT_A_POST
NO_DATE = "front matter has no 'date': add a line like date: 2026-01-18T09:00:00+08:00" + posts.NOT_A_POST


def load(make_site, files: dict[str, str | bytes], **settings: object) -> Site:
    return load_site(make_site(files, **settings), now=NOW)


def by_rel(site: Site) -> dict:
    return {p.relpath: p for p in site.posts}


def only_post(site: Site):
    assert site.problems == []
    (post,) = site.posts
    return post


def only_problem(site: Site, name: str):
    found = [p for p in site.problems if p.path.endswith(name)]
    assert len(found) == 1, site.problems
    return found[0]


# --- discovery -------------------------------------------------------------------------


def test_md_and_markdown_files_are_posts_recursively(make_site):
    files = {"posts/a.md": post_text("A"), "posts/2026/01/b.markdown": post_text("B"), "notes/c.MD": post_text("C")}
    site = load(make_site, files)
    assert sorted(by_rel(site)) == ["notes/c.MD", "posts/2026/01/b.markdown", "posts/a.md"]


def test_leaf_bundle_is_one_post_named_after_its_folder(make_site):
    files = {
        "posts/my-bundle/index.md": post_text("Bundle"),
        "posts/my-bundle/notes.md": post_text("Resource, not a post"),
        "posts/my-bundle/extra/more.md": post_text("Also a resource"),
        "posts/my-bundle/cover.png": b"\x89PNG",
    }
    post = only_post(load(make_site, files))
    assert (post.relpath, post.slug, post.section) == ("posts/my-bundle/index.md", "my-bundle", "posts")
    assert post.url == "https://blog.example.com/posts/my-bundle/"


def test_section_pages_other_files_and_dot_files_are_skipped(make_site):
    config = make_site(
        {
            "_index.md": post_text("Home"),
            "posts/_index.md": post_text("Section"),
            "posts/notes.txt": "not markdown",
            "posts/.hidden.md": post_text("Hidden"),
            ".git/x.md": post_text("In a dot folder"),
            "posts/real.md": post_text("Real"),
        }
    )
    sources, problems, _, sections = posts.discover(config.content_dir)
    assert [s.relpath for s in sources] == ["posts/real.md"]
    assert [s.relpath for s in sections] == ["_index.md", "posts/_index.md"]  # read for their cascade only
    assert problems == []


def test_symlink_to_a_file_outside_content_is_reported_and_not_read(make_site):
    config = make_site({"posts/ok.md": GOOD})
    outside = config.root / "secret.md"
    outside.write_text(post_text("Secret"), encoding="utf-8")
    os.symlink(outside, config.content_dir / "posts" / "link.md")
    site = load_site(config, now=NOW)
    assert [p.title for p in site.posts] == ["Good one"]
    (problem,) = site.problems
    assert problem.path.endswith("content/posts/link.md")
    assert "symlink points outside content_dir" in problem.message


def test_a_fifo_or_a_dangling_symlink_is_reported_and_never_opened(make_site):
    # Opening a FIFO for reading waits for a writer: build, check and the daemon would hang.
    config = make_site({"posts/ok.md": GOOD})
    os.mkfifo(config.content_dir / "posts" / "pipe.md")
    os.symlink(config.content_dir / "posts" / "gone.md", config.content_dir / "posts" / "dangling.md")
    command = [sys.executable, "-m", "publisher", "--config", str(config.path), "check"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"{config.content_dir / 'posts' / 'pipe.md'}: not a regular file (a FIFO, socket or device); not read" in (
        result.stderr
    )
    assert f"{config.content_dir / 'posts' / 'dangling.md'}: symlink to nothing; not read" in result.stderr
    assert result.stdout.startswith("1 published")


def test_symlink_inside_content_is_read(make_site):
    config = make_site({"library/real.md": post_text("Shared")})
    os.symlink(config.content_dir / "library" / "real.md", config.content_dir / "library" / "alias.md")
    site = load_site(config, now=NOW)
    assert site.problems == []
    assert {p.relpath: p.title for p in site.posts} == {"library/alias.md": "Shared", "library/real.md": "Shared"}


def test_load_post_raises_post_error_with_every_problem(make_site):
    config = make_site({"posts/bad.md": "---\ndraft: true\n---\n"})
    (source,), *_ = posts.discover(config.content_dir)
    with pytest.raises(PostError) as err:
        posts.load_post(source, config)
    assert [(p.line, p.message) for p in err.value.problems] == [
        (1, NO_TITLE),
        (1, NO_DATE),
    ]


# --- front matter formats and fields ----------------------------------------------------

FORMATS = {
    "yaml": '---\ntitle: "T"\ndate: 2026-01-10T09:00:00+08:00\n---\nBody\n',
    "toml": '+++\ntitle = "T"\ndate = 2026-01-10T09:00:00+08:00\n+++\nBody\n',
    "json": '{\n  "title": "T",\n  "date": "2026-01-10T09:00:00+08:00"\n}\nBody\n',
}


@pytest.mark.parametrize("text", FORMATS.values(), ids=FORMATS.keys())
def test_yaml_toml_and_json_front_matter(make_site, text):
    post = only_post(load(make_site, {"posts/p.md": text}))
    assert post.title == "T"
    assert post.date == datetime(2026, 1, 10, 9, 0, tzinfo=TAIPEI)


@pytest.mark.parametrize("key", ["publishDate", "publishdate", "PublishDate"])
def test_front_matter_keys_are_case_insensitive(make_site, key):
    post = only_post(load(make_site, {"posts/p.md": post_text("P", **{key: "2026-01-20"})}))
    assert post.publish_date == datetime(2026, 1, 20, tzinfo=TAIPEI)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("publishDate: 2026-01-07\nlastmod: 2026-01-09", date(2026, 1, 7)),
        ("lastmod: 2026-01-09", date(2026, 1, 9)),
        ("modified: 2026-01-08", date(2026, 1, 8)),
    ],
)
def test_without_date_hugo_dates_a_page_by_publish_date_then_lastmod(make_site, fields, expected):
    post = only_post(load(make_site, {"posts/p.md": f"---\ntitle: P\n{fields}\n---\nBody\n"}))
    assert post.date == datetime.combine(expected, datetime.min.time(), TAIPEI)


def test_unknown_fields_are_kept_in_params_with_lower_case_keys(make_site):
    post = only_post(load(make_site, {"posts/p.md": post_text("P", MyField="x", series="AI")}))
    assert post.params["myfield"] == "x"
    assert post.params["series"] == "AI"
    assert "MyField" not in post.params


# --- slugs and URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "slug"),
    [
        ("posts/My Post.md", post_text("T"), "my-post"),
        ("posts/file-name.md", post_text("T", slug="From Front Matter"), "from-front-matter"),
        ("posts/folder/index.md", post_text("T", slug="wins"), "wins"),
        ("posts/My Bundle/index.markdown", post_text("T"), "my-bundle"),
        ("posts/AI 產業.md", post_text("T"), "ai-產業"),
    ],
)
def test_slug_from_front_matter_then_bundle_folder_then_file_stem(make_site, name, text, slug):
    assert only_post(load(make_site, {name: text})).slug == slug


def test_url_is_absolute_and_percent_encodes_cjk(make_site):
    post = only_post(load(make_site, {"posts/中文.md": post_text("T")}))
    assert post.url == "https://blog.example.com/posts/%E4%B8%AD%E6%96%87/"


def test_url_percent_encodes_hash_so_it_is_not_a_fragment(make_site):
    post = only_post(load(make_site, {"posts/p.md": post_text("T", slug="C#")}))
    assert (post.slug, post.url) == ("c#", "https://blog.example.com/posts/c%23/")


@pytest.mark.parametrize(
    ("name", "section", "url"),
    [
        ("posts/2026/01/deep.md", "posts", "https://blog.example.com/posts/2026/01/deep/"),
        ("En/Post/b/index.md", "en", "https://blog.example.com/en/post/b/"),
        ("top.md", "", "https://blog.example.com/top/"),
        ("top-bundle/index.md", "", "https://blog.example.com/top-bundle/"),
    ],
)
def test_default_url_is_hugos_folder_path_and_section_its_first_folder(make_site, name, section, url):
    post = only_post(load(make_site, {name: post_text("T")}))
    assert (post.section, post.url) == (section, url)


def test_hugos_permalinks_table_copied_as_is_gives_hugos_urls(make_site):
    # Stack's config ([permalinks] post = "/p/:slug/", page = "/:slug/") and Hugo 0.120's
    # kind-scoped form; :slug without a front matter slug is the title, as in Hugo.
    files = {
        "post/Markdown Syntax/index.md": post_text("Markdown Syntax Guide"),
        "post/shortcodes/index.md": post_text("短代码"),
        "post/given.md": post_text("Ignored", slug="my-slug"),
        "page/about/index.md": post_text("About"),
        "notes/n.md": post_text("N"),
    }
    site = load(make_site, files, permalinks={"post": "/p/:slug/", "page": "/:slug/"})
    assert {p.title: p.url for p in site.published} == {
        "Markdown Syntax Guide": "https://blog.example.com/p/markdown-syntax-guide/",
        "短代码": "https://blog.example.com/p/%E7%9F%AD%E4%BB%A3%E7%A0%81/",
        "Ignored": "https://blog.example.com/p/my-slug/",
        "About": "https://blog.example.com/about/",
        "N": "https://blog.example.com/notes/n/",  # no entry: the default pattern
    }
    site = load(make_site, files, permalinks={"page": {"post": "/articles/:year/:filename/"}})
    assert sorted(p.url for p in site.published)[:2] == [
        "https://blog.example.com/articles/2026/given/",
        "https://blog.example.com/articles/2026/markdown-syntax/",
    ]


def test_a_title_permalink_needs_a_title_with_letters(make_site):
    site = load(make_site, {"posts/a.md": post_text("!!!"), "posts/b.md": GOOD}, permalink="/:title/")
    assert only_problem(site, "posts/a.md").message == (
        "the permalink makes this post's URL from its title, which has no letters or digits"
    )


def test_permalink_section_field_keeps_only_the_first_folder(make_site):
    site = load(make_site, {"posts/2026/01/deep.md": post_text("T")}, permalink="/{section}/{slug}/")
    assert only_post(site).url == "https://blog.example.com/posts/deep/"


def test_permalink_pattern_with_date_fields(make_site):
    site = load(make_site, {"posts/hello.md": post_text("T")}, permalink="/{year}/{month}/{slug}/")
    assert only_post(site).url == "https://blog.example.com/2026/01/hello/"


# --- dates ---------------------------------------------------------------------------------

NINE_AM = datetime(2026, 1, 10, 9, 0, tzinfo=TAIPEI)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-10T09:00:00+08:00", NINE_AM),
        ("2026-01-10 09:00:00", NINE_AM),  # no zone: the configured one
        ("2026-01-10", datetime(2026, 1, 10, 0, 0, tzinfo=TAIPEI)),
        ("2026-01-10T01:00:00Z", NINE_AM),
        ('"2026-01-10T09:00:00"', NINE_AM),
        ('"2026-01-10T01:00:00Z"', NINE_AM),
        ('"Sat, 10 Jan 2026 01:00:00 GMT"', NINE_AM),
    ],
)
def test_yaml_dates_are_timezone_aware(make_site, raw, expected):
    post = only_post(load(make_site, {"posts/p.md": post_text("T", date=raw)}))
    assert post.date.utcoffset() is not None
    assert post.date == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-10T09:00:00+08:00", NINE_AM),
        ("2026-01-10T09:00:00", NINE_AM),
        ("2026-01-10", datetime(2026, 1, 10, tzinfo=TAIPEI)),
        ("2026-01-10T01:00:00Z", NINE_AM),
    ],
)
def test_toml_unquoted_dates(make_site, raw, expected):
    text = f'+++\ntitle = "T"\ndate = {raw}\n+++\n'
    assert only_post(load(make_site, {"posts/p.md": text})).date == expected


def test_parse_date_reads_naive_values_in_the_given_zone():
    assert posts.parse_date("2026-01-18", TAIPEI) == datetime(2026, 1, 18, tzinfo=TAIPEI)
    assert posts.parse_date(date(2026, 1, 18), TAIPEI) == datetime(2026, 1, 18, tzinfo=TAIPEI)
    assert posts.parse_date(datetime(2026, 1, 18, 1, tzinfo=UTC), TAIPEI) == datetime(2026, 1, 18, 9, tzinfo=TAIPEI)
    with pytest.raises(ValueError):
        posts.parse_date("next tuesday", TAIPEI)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("date: tomorrow", "'date' is not a date: 'tomorrow'"),
        ("date: 2026-02-30", "'date' is not a date: '2026-02-30'"),  # YAML reads it as an (impossible) date
        ("publishDate: soon", "'publishdate' is not a date: 'soon'"),
        ("expiryDate: 2026-13-01", "'expirydate' is not a date: '2026-13-01'"),
    ],
)
def test_garbage_date_is_a_problem_naming_the_key_and_its_line(make_site, line, message):
    text = f"---\ntitle: T\nslug: bad\n{line}\n---\n"
    if not line.startswith("date"):
        text = text.replace("slug: bad\n", "slug: bad\ndate: 2026-01-10\n")
    site = load(make_site, {"posts/bad.md": text, "posts/ok.md": GOOD})
    problem = only_problem(site, "posts/bad.md")
    assert problem.line == text.split("\n").index(line) + 1
    assert problem.message.startswith(message)
    assert [p.title for p in site.posts] == ["Good one"]


# --- status --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({}, "published"),
        ({"draft": True}, "draft"),
        ({"draft": False}, "published"),
        ({"publishDate": "2026-03-01"}, "scheduled"),  # date is in the past, publishDate wins
        ({"expiryDate": "2026-01-31"}, "expired"),
        ({"expiryDate": "2026-03-01"}, "published"),
        ({"draft": True, "publishDate": "2026-03-01"}, "draft"),
    ],
)
def test_status_at_now(make_site, extra, status):
    post = only_post(load(make_site, {"posts/p.md": post_text("T", date="2026-01-10", **extra)}))
    assert post.status(NOW) == status


def test_site_groups_posts_by_status(make_site):
    files = {
        "posts/pub.md": post_text("Pub"),
        "posts/draft.md": post_text("Draft", draft=True),
        "posts/later.md": post_text("Later", publishDate="2026-06-01"),
        "posts/gone.md": post_text("Gone", expiryDate="2026-01-15"),
    }
    site = load(make_site, files)
    assert [p.title for p in site.published] == ["Pub"]
    assert [p.title for p in site.with_status("draft")] == ["Draft"]
    assert [p.title for p in site.with_status("scheduled")] == ["Later"]
    assert [p.title for p in site.with_status("expired")] == ["Gone"]


@pytest.mark.parametrize(("value", "shown"), [("1", "1"), ('"maybe"', "'maybe'")])
def test_draft_that_is_not_a_boolean_is_a_problem(make_site, value, shown):
    site = load(make_site, {"posts/p.md": f"---\ntitle: T\ndate: 2026-01-10\ndraft: {value}\n---\n"})
    problem = only_problem(site, "posts/p.md")
    assert (problem.line, problem.message) == (4, f"'draft' must be true or false, not {shown}")
    assert site.posts == []


# --- tags and categories -------------------------------------------------------------------


def test_tags_may_be_a_single_string(make_site):
    post = only_post(load(make_site, {"posts/p.md": "---\ntitle: T\ndate: 2026-01-10\ntags: 產業\n---\n"}))
    assert post.tags == ("產業",)


def test_terms_are_deduplicated_and_cleaned(make_site):
    text = '---\ntitle: T\ndate: 2026-01-10\ntags: [AI, "A\\tB", AI, "A B"]\ncategories: ["x\\ny", x y]\n---\n'
    post = only_post(load(make_site, {"posts/p.md": text}))
    assert post.tags == ("AI", "A B")
    assert post.categories == ("x y",)


# --- robustness ----------------------------------------------------------------------------


def test_bom_and_crlf_are_accepted(make_site):
    raw = b"\xef\xbb\xbf---\r\ntitle: Hello\r\ndate: 2026-01-10\r\n---\r\nLine 1\r\nLine 2\r\n"
    config = make_site({"posts/p.md": raw})
    (source,), *_ = posts.discover(config.content_dir)
    post, body = posts.load_post_and_body(source, config)
    assert post.title == "Hello"
    assert body.lstrip("\n") == "Line 1\nLine 2\n"


REJECTED = [
    ("invalid-yaml", "---\ntitle: T\ndate: 2026-01-10\ndescription: a: b\n---\n", 4, "invalid YAML front matter"),
    ("invalid-toml", '+++\ntitle = "T"\ndate = 2026-01-10\nfoo = = 1\n+++\n', 4, "invalid TOML front matter"),
    ("toml-after-blank-lines", '\n\n+++\ntitle = "T"\nfoo = = 1\n+++\n', 5, "invalid TOML front matter"),
    ("yaml-after-blank-lines", "\n\n---\ntitle: T\ndescription: a: b\n---\n", 5, "invalid YAML front matter"),
    ("invalid-json", '{\n"title": "T",\n"date": "2026-01-10"\n"x": 1\n}\n', 4, "invalid JSON front matter"),
    ("not-utf8", b"---\ntitle: T\ndate: 2026-01-10\n---\n\nbody \xff\n", 6, "not valid UTF-8 (byte 0xff)"),
    ("not-utf8-after-bom", b"\xef\xbb\xbf---\ntitle: T\n---\n\xfe\n", 4, "not valid UTF-8 (byte 0xfe)"),
    ("empty", "", 1, "file is empty"),
    ("whitespace", " \n\t\n\n", 1, "file is empty"),
    ("no-front-matter", "\nJust a body.\n", 2, "no front matter"),
    ("unclosed", "---\ntitle: T\ndate: 2026-01-10\n\nBody\n", 1, "front matter is never closed"),
    ("no-title", "---\ndate: 2026-01-10\n---\n", 1, "front matter has no 'title'"),
    ("no-date", "---\ntitle: T\n---\n", 1, "front matter has no 'date'"),
    (
        "control-title",
        '---\ndate: 2026-01-10\ntitle: "\\x01\\x02"\n---\n',
        3,
        "'title' is empty once control characters are removed",
    ),
    ("list-title", "---\ntitle: [a, b]\ndate: 2026-01-10\n---\n", 2, "'title' must be text, not a list"),
    ("bad-tags", "---\ntitle: T\ndate: 2026-01-10\ntags: {a: 1}\n---\n", 4, "'tags' must be a list of names"),
    ("not-a-mapping", "---\n- a\n- b\n---\n", 1, "front matter must be a set of 'key: value' lines"),
    (
        "author-table-without-name",
        "---\ntitle: T\ndate: 2026-01-10\nauthor: {link: 'https://x.example/'}\n---\n",
        4,
        "'author' must be a list of names (or tables with a name) or a single name",
    ),
]


def test_authors_as_tables_with_a_name_as_loveit_and_fixit_write_them_and_without_markup(make_site):
    files = {
        "posts/a.md": "---\ntitle: A\ndate: 2026-01-10\nauthor:\n  name: Lruihao\n  link: https://lruihao.cn\n---\n",
        "posts/b.md": "---\ntitle: B\ndate: 2026-01-11\nauthors:\n  - name: 甲\n  - '<a href=\"https://x.example/\">乙</a>'\n---\n",
    }
    files["posts/c.md"] = "---\ntitle: C\ndate: 2026-01-12\nauthor:\n  name:\n  link:\n---\n"  # FixIt's archetype
    site = load(make_site, files)
    assert site.problems == []
    assert {p.title: p.authors for p in site.published} == {"A": ("Lruihao",), "B": ("甲", "乙"), "C": ()}


@pytest.mark.parametrize(("name", "content", "line", "fragment"), REJECTED, ids=[r[0] for r in REJECTED])
def test_rejected_post_is_one_located_problem_and_others_still_load(make_site, name, content, line, fragment):
    site = load(make_site, {f"posts/{name}.md": content, "posts/ok.md": GOOD})
    problem = only_problem(site, f"posts/{name}.md")
    assert problem.line == line
    assert fragment in problem.message
    assert str(problem) == f"{problem.path}:{line}: {problem.message}"
    assert [p.title for p in site.posts] == ["Good one"]


def test_missing_title_and_date_are_both_reported(make_site):
    site = load(make_site, {"posts/p.md": "---\ndraft: false\n---\n"})
    assert [p.message for p in site.problems] == [
        NO_TITLE,
        NO_DATE,
    ]


def test_shared_slug_keeps_the_post_published_first_and_rejects_the_other(make_site):
    files = {
        "posts/b.md": post_text("B", slug="same", date="2026-01-05"),
        "posts/a.md": post_text("A", slug="Same", date="2026-01-06"),  # a copy, published later
        "posts/ok.md": GOOD,
    }
    site = load(make_site, files)
    assert sorted(p.title for p in site.posts) == ["B", "Good one"]
    b = site.posts[[p.title for p in site.posts].index("B")]
    assert b.url == "https://blog.example.com/posts/same/"
    a = only_problem(site, "posts/a.md")
    b_path = a.path[: -len("a.md")] + "b.md"
    assert a.message.startswith(f"slug 'same' is already used by {b_path}, published earlier")
    assert a.message.endswith("published earlier; give this post another 'slug'")


def test_a_draft_never_takes_the_slug_of_a_published_post(make_site):
    # Saving a draft that reuses a live post's slug must not take the live post (and its GUID)
    # out of the feeds: the draft is the one rejected.
    files = {
        "posts/live.md": post_text("Live", date="2026-01-05"),
        "posts/wip.md": post_text("WIP", slug="live", draft=True),
        "posts/later.md": post_text("Later", slug="live", date="2099-01-01"),
    }
    site = load(make_site, files)
    assert [p.title for p in site.posts] == ["Live"]
    for name in ("wip", "later"):
        assert "is already used by " in only_problem(site, f"posts/{name}.md").message


def test_unpublished_posts_sharing_a_slug_are_all_rejected(make_site):
    files = {
        "posts/a.md": post_text("A", slug="same", draft=True),
        "posts/b.md": post_text("B", slug="same", draft=True),
    }
    site = load(make_site, files)
    assert site.posts == []
    a, b = only_problem(site, "posts/a.md"), only_problem(site, "posts/b.md")
    assert a.message.startswith("slug 'same' is also used by ") and a.message.split(" by ")[1].startswith(b.path)
    assert b.message.split(" by ")[1].startswith(a.path)


def test_same_file_name_in_two_sections_is_not_a_duplicate(make_site):
    config = make_site({"posts/a.md": post_text("A"), "notes/a.md": post_text("A2")})
    site = load_site(config, now=NOW)
    assert site.problems == []
    assert sorted(p.url for p in site.posts) == [
        "https://blog.example.com/notes/a/",
        "https://blog.example.com/posts/a/",
    ]


@pytest.mark.parametrize(
    ("title", "clean"),
    [
        ("Hi\\r\\nBcc: x@y", "Hi Bcc: x@y"),
        ("a\\tb\\u2028c\\x7fd\\x00e", "a b c d e"),
        ("  padded\\n  ", "padded"),
    ],
)
def test_title_control_characters_become_one_line(make_site, title, clean):
    post = only_post(load(make_site, {"posts/p.md": f'---\ntitle: "{title}"\ndate: 2026-01-10\n---\n'}))
    assert post.title == clean


def test_cjk_and_emoji_round_trip(make_site):
    text = post_text("Groq 攜手 NVIDIA 🚀「Pre-fill」", tags=["AI晶片", "🚀 Launch", "產業"], categories=["AI 產業"])
    post = only_post(load(make_site, {"posts/p.md": text}))
    assert post.title == "Groq 攜手 NVIDIA 🚀「Pre-fill」"
    assert post.tags == ("AI晶片", "🚀 Launch", "產業")
    assert post.categories == ("AI 產業",)


def test_sample_posts_load(make_site):
    samples = ["posts/2026-01-05-groq-nvidia-prefill-decode.md", "posts/2026-01-06-all-in-year-end-review.md"]
    config = make_site(data=samples)
    site = load_site(config, now=NOW)
    assert site.problems == []
    first, second = site.published
    assert second.title == "Groq 攜手 NVIDIA：Chamath 親解「Pre-fill 與 Decode」的架構之爭"
    assert second.tags == ("Groq", "NVIDIA", "AI晶片", "Chamath Palihapitiya", "LLM")
    assert second.categories == ("AI 產業",)
    assert second.date == datetime(2026, 1, 5, 12, tzinfo=TAIPEI)
    assert first.slug == "2026-01-06-all-in-year-end-review"
    assert first.params["source_name"] == "All-In Podcast"


# --- Hugo's page options: headless, build/_build, url -----------------------------------------


def with_lines(text: str, *lines: str) -> str:
    """A post_text with raw YAML lines added at the end of its front matter."""
    head, sep, rest = text.partition("\n---\n")
    return head + "\n" + "\n".join(lines) + sep + rest


def test_pages_hugo_never_lists_are_unlisted_need_no_title_or_date_and_stay_out_of_feeds(make_site) -> None:
    files = {
        "homepage/index.md": "---\nheadless: true\n---\n",
        "homepage/work.md": post_text("A headless bundle's resource"),
        "posts/hidden.md": with_lines(post_text("Hidden"), "build: {list: never}"),
        "posts/local.md": with_lines(post_text("Local"), "_build:", "  list: local"),
        "posts/norender.md": "+++\ntitle = 'No page'\ndate = 2026-01-02\n[build]\nrender = false\n+++\n",
        "posts/shown.md": with_lines(post_text("Shown"), "build: {list: always, Render: always}"),
    }
    site = load(make_site, files)
    assert site.problems == []
    assert [e.relpath for e in site.published_index()] == ["posts/shown.md"]
    unlisted = sorted(e.relpath for e in site.entries("unlisted"))
    assert unlisted == ["homepage/index.md", "posts/hidden.md", "posts/local.md", "posts/norender.md"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"build": "never"}, "'build' must be a table of build options, like {list: never}"),
        ({"build": "{list: sometimes}"}, "'build' has an unknown option list: 'sometimes'; see Hugo's build options"),
        ({"url": "https://elsewhere.example/x/"}, "'url' must be a path from the site root, like /about/"),
    ],
)
def test_bad_page_options_are_rejected_naming_the_key(make_site, extra, message) -> None:
    ((key, value),) = extra.items()
    site = load(make_site, {"posts/p.md": with_lines(post_text("P"), f"{key}: {value}"), "posts/ok.md": GOOD})
    problem = only_problem(site, "posts/p.md")
    assert problem.line == 4 and problem.message.startswith(message)
    assert [p.title for p in site.published] == ["Good one"]


def test_url_front_matter_is_the_posts_address_and_a_shared_url_names_it(make_site) -> None:
    files = {
        "posts/a.md": post_text("A", url="/about/我/", date="2026-01-05"),
        "posts/b.md": post_text("B", url="about/我/", date="2026-01-06"),
    }
    site = load(make_site, files)
    (post,) = site.published
    assert post.url == "https://blog.example.com/about/%E6%88%91/"
    (problem,) = site.problems
    assert problem.path.endswith("posts/b.md")
    assert problem.message == (
        f"URL https://blog.example.com/about/%E6%88%91/ is already used by {problem.path[:-4]}a.md, "
        "published earlier; give this post another 'url' or 'slug'"
    )


def test_url_front_matter_without_an_extension_is_a_folder_as_in_hugo(make_site) -> None:
    files = {
        "posts/a.md": post_text("A", url="foo/bar"),
        "posts/b.md": post_text("B", url="/foo/page.html"),
        "posts/c.md": post_text("C", url="/baz/"),
    }
    urls = sorted(p.url for p in load(make_site, files).published)
    assert urls == [
        "https://blog.example.com/baz/",
        "https://blog.example.com/foo/bar/",
        "https://blog.example.com/foo/page.html",
    ]


# --- languages (Hugo's name.<key>.md) -------------------------------------------------------

HUGO_NAMING = {  # what Hugo 0.111 makes of each file on a site whose only language is en
    "posts/hello.en.md": "https://blog.example.com/posts/hello/",
    "posts/hello.fr.md": "https://blog.example.com/posts/hello.fr/",  # fr is no language here
    "posts/v1.2.md": "https://blog.example.com/posts/v1.2/",
    "posts/b2/index.en.md": "https://blog.example.com/posts/b2/",
    "posts/b3/index.zh-cn.md": "https://blog.example.com/posts/b3/",  # any index.*.md makes a bundle
}


def test_language_keys_leave_file_names_as_hugo_reads_them(make_site) -> None:
    files = {name: post_text(name, date=f"2026-01-0{i + 1}") for i, name in enumerate(HUGO_NAMING)}
    files |= {"posts/b2/index.fr.md": post_text("A resource of b2"), "posts/_index.en.md": "---\n---\n"}
    site = load(make_site, files)
    assert site.problems == []
    assert {p.relpath: p.url for p in site.published} == HUGO_NAMING
    assert site.other_languages == 0


MULTILINGUAL = {
    "posts/hello.md": post_text("Hello"),
    "posts/hello.zh-cn.md": post_text("你好", tags=["問候"]),
    "posts/both/index.md": post_text("Both"),
    "posts/both/index.zh-cn.md": post_text("兩者"),
    "posts/only-zh/index.zh-cn.md": post_text("只有中文"),
    "posts/moved.zh-cn.md": post_text("搬家", url="/about/zh"),
    "posts/_index.zh-cn.md": "---\ntitle: 文章\n---\n",
    "tags/問候/_index.zh-cn.md": "---\ntitle: 問候\n---\n",
}


def test_a_multilingual_site_publishes_its_default_language_and_counts_the_others(make_site) -> None:
    site = load(make_site, MULTILINGUAL, languages=["en", "zh-CN"])
    assert site.problems == []
    assert sorted(p.url for p in site.published) == [
        "https://blog.example.com/posts/both/",
        "https://blog.example.com/posts/hello/",
    ]
    assert site.other_languages == 4  # hello, both, only-zh and moved in zh-cn; no _index page counts


def test_a_second_languages_site_lives_under_its_key_as_in_hugo(make_site) -> None:
    config = make_site(MULTILINGUAL, languages=["en", "zh-cn"], content_language="zh-cn")
    site = load_site(config, now=NOW)
    assert site.problems == []
    assert {p.title: p.url for p in site.published} == {
        "你好": "https://blog.example.com/zh-cn/posts/hello/",
        "兩者": "https://blog.example.com/zh-cn/posts/both/",
        "只有中文": "https://blog.example.com/zh-cn/posts/only-zh/",
        "搬家": "https://blog.example.com/about/zh/",  # Hugo's url is from the site root, no language
    }
    assert site.other_languages == 2
    assert config.cache_dir.name == ".publisher-cache-zh-cn"
    assert config.database_url.endswith("/publisher-zh-cn.sqlite3")


def test_main_sections_make_pages_elsewhere_unlisted_needing_no_title_or_date(make_site) -> None:
    # A stock Hugo theme's about, contact and search pages: not posts, so never rejected.
    files = {
        "posts/a.md": post_text("A"),
        "Post/b/index.md": post_text("B"),
        "about.md": "---\ntitle: About\n---\nMe.\n",
        "page/search.md": "---\nlayout: search\n---\n",
        "top/me.md": "![](/img/me.png)\n\n關於我。\n",  # no front matter at all: Hugo renders it
        "top/empty.md": "",
    }
    site = load(make_site, files, main_sections=["posts", "Post"])
    assert site.problems == []
    assert sorted(p.title for p in site.published) == ["A", "B"]
    assert site.count("unlisted") == 4
    everything = load(make_site, files)  # the default: every page is a post
    assert [p.message for p in everything.problems if p.path.endswith("about.md")] == [NO_DATE]
    hint = " (or, if this page is not a post, list the post sections in main_sections)"
    assert {(p.path.rpartition("/")[2], p.line, p.message) for p in everything.problems if "/top/" in p.path} == {
        ("me.md", 1, "no front matter: start the file with '---' (YAML), '+++' (TOML) or '{' (JSON)" + hint),
        ("empty.md", 1, "file is empty" + hint),
    }


def test_a_languages_own_content_folder_holds_its_pages_without_keys(make_site) -> None:
    # Hugo's per-language contentDir (ananke: content/en, content/fr): fr's files carry no key.
    files = {"fr/post/chapitre-1.md": post_text("Chapitre 1"), "en/post/chapter-1.md": post_text("Chapter 1")}
    settings = {"languages": ["en", "fr"], "content_language": "fr", "content_dir": "content/fr"}
    fr = load(make_site, files, own_content_dir=True, **settings)
    assert [p.url for p in fr.published] == ["https://blog.example.com/fr/post/chapitre-1/"]
    assert fr.other_languages == 0
    without = load(make_site, files, **settings)  # unmarked, its files are the default language's
    assert without.published == [] and without.other_languages == 1
