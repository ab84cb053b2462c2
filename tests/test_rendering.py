"""Markdown rendering, absolute URLs, summaries and the Jinja templates."""

from __future__ import annotations

import pytest

from publisher.errors import TemplateError
from publisher.publishing import check, load_site
from publisher.rendering import Renderer, absolutize, html_to_text, text_summary
from tests.conftest import NOW, post_text

BASE = "https://blog.example.com/posts/hello/"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<a href="../other/">x</a>', 'href="https://blog.example.com/posts/other/"'),
        ('<a href="/about/">x</a>', 'href="https://blog.example.com/about/"'),
        ('<img src="pic.png">', 'src="https://blog.example.com/posts/hello/pic.png"'),
        ('<a href="#fn:1">1</a>', 'href="https://blog.example.com/posts/hello/#fn:1"'),
        ('<a href="https://other.org/x">x</a>', 'href="https://other.org/x"'),
        ('<a href="mailto:a@b.org">x</a>', 'href="mailto:a@b.org"'),
        (
            '<img srcset="a.png 1x, /b.png 2x" src="a.png">',
            'srcset="https://blog.example.com/posts/hello/a.png 1x, https://blog.example.com/b.png 2x"',
        ),
    ],
)
def test_absolutize_rewrites_relative_urls(html: str, expected: str) -> None:
    assert expected in absolutize(html, BASE)


def test_absolutize_keeps_text_and_cjk() -> None:
    html = "<p>中文 &amp; <b>粗體</b> 🎉</p>\n<p>二</p>"
    assert absolutize(html, BASE) == html


def test_an_end_br_is_a_line_break_as_browsers_read_it() -> None:
    assert absolutize("<p>第一行</br>第二行</BR >三</p>", BASE) == "<p>第一行<br>第二行<br>三</p>"
    assert absolutize("<pre><code>a &lt;/br&gt; b</code></pre>", BASE) == "<pre><code>a &lt;/br&gt; b</code></pre>"


def _render(make_site, body: str, **front: object):
    config = make_site({"posts/hello.md": post_text(body=body, **front)})
    site = load_site(config, now=NOW)
    (post,) = site.posts
    return Renderer(config).render_post(post, body)


def test_markdown_features_and_raw_html(make_site) -> None:
    body = (
        'Intro[^1] with <span class="raw">raw</span>.\n\n'
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "```python\nprint('<x>')\n```\n\n"
        "## 標題 {: #custom }\n\n"
        "[^1]: A note.\n"
    )
    html = _render(make_site, body).html
    assert '<span class="raw">raw</span>' in html
    assert "<table>" in html and "<td>1</td>" in html
    assert '<code class="language-python">' in html and "print('&lt;x&gt;')" in html
    assert '<h2 id="custom">標題</h2>' in html
    assert 'class="footnotes"' in html and "https://blog.example.com/posts/hello/#fn:1" in html


def test_source_line_from_front_matter(make_site) -> None:
    item = _render(make_site, "Body.", source_url="https://youtu.be/x?a=1&b=2", source_name="All-In <Podcast>")
    assert '<a href="https://youtu.be/x?a=1&amp;b=2">All-In &lt;Podcast&gt;</a>' in item.html


def test_no_source_line_without_source(make_site) -> None:
    assert 'class="source"' not in _render(make_site, "Body.").html


def test_summary_prefers_description(make_site) -> None:
    assert _render(make_site, "Body text.", description="描述").summary == "描述"


def test_summary_stops_at_more_marker(make_site) -> None:
    item = _render(make_site, "First part.\n\n<!--more-->\n\nSecond part.")
    assert item.summary == "First part."


def test_automatic_summary_is_prose_only_and_cut() -> None:
    html = "<p>" + "字" * 300 + "</p><pre><code>code</code></pre>"
    summary = text_summary(html, 240)
    assert summary == "字" * 240 + "…"
    assert text_summary("<p>Short.</p><table><tr><td>cell</td></tr></table>", 240) == "Short."


def test_template_override_is_used(make_site, tmp_path) -> None:
    override = tmp_path / "site" / "mytemplates"
    override.mkdir(parents=True)
    (override / "feed_item.html").write_text('<div class="mine">{{ content }} {{ post.params.mood }}</div>')
    config = make_site({"posts/hello.md": post_text(mood="<happy>")}, templates_dir="mytemplates")
    (post,) = load_site(config, now=NOW).posts
    html = Renderer(config).render_post(post, "Body.").html
    assert html.startswith('<div class="mine"><p>Body.</p>')
    assert "&lt;happy&gt;" in html  # autoescaped


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("line one\n{{ content }\n", "feed_item.html:2:"),
        ("line one\nline two\n{{ post.no_such_field }}\n", "feed_item.html:3: UndefinedError"),
    ],
)
def test_broken_template_names_file_and_line(make_site, tmp_path, template: str, message: str) -> None:
    override = tmp_path / "site" / "t"
    override.mkdir(parents=True)
    (override / "feed_item.html").write_text(template)
    config = make_site({"posts/hello.md": post_text()}, templates_dir="t")
    (post,) = load_site(config, now=NOW).posts
    with pytest.raises(TemplateError, match=message.replace("(", r"\(")):
        Renderer(config).render_post(post, "Body.")


def test_compiled_catalogs_match_their_po_files() -> None:
    """`make catalogs` was run after the last .po edit: every translation is in the .mo."""
    import gettext

    from babel.messages.pofile import read_po

    from publisher.rendering import LOCALE_DIR

    for po in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po"):
        with po.open("rb") as f:
            catalog = read_po(f)
        with po.with_suffix(".mo").open("rb") as f:
            compiled = gettext.GNUTranslations(f)
        for message in catalog:
            if message.id and message.string:
                assert compiled.gettext(message.id) == message.string, (po, message.id)


def test_feed_items_speak_the_site_language(make_site) -> None:
    config = make_site({"posts/a.md": post_text(source_url="https://example.org/ep1", source_name="Ep 1")})
    (post,) = load_site(config, now=NOW).posts
    assert "來源：<a" in Renderer(config).render_post(post, "Body.").html
    english = make_site({"posts/a.md": post_text(source_url="https://example.org/ep1")}, language="en")
    (post,) = load_site(english, now=NOW).posts
    assert "Source: <a" in Renderer(english).render_post(post, "Body.").html


def test_extension_instances_read_markdown_as_the_extensions_by_name_do(make_site, monkeypatch) -> None:
    # The Renderer builds its extensions from instances, and the one superfences adds by name
    # directly, without Python-Markdown's scan of every package's entry points: the same HTML
    # as the extensions by name, on every feature they add.
    import markdown

    from publisher.commonmark import CommonMarkExtension
    from publisher.commonmark_lists import CommonMarkListsExtension
    from publisher.footnotes import GoldmarkFootnotesExtension

    body = (
        "*[HTML]: Hyper Text Markup Language\n\nHTML[^n] and a [link](rel.html)\n\n## Heading {: .c }\n\n"
        "Term\n:   Definition\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n~~~js\nlet x = 1 < 2;\n~~~\n\n"
        '<div markdown="1">*inside*</div>\n\n1. one\n2. two\n\n* three\n\n~~gone~~\n\n[^n]: Note.\n'
    )
    config = make_site({"posts/a.md": post_text()})
    with monkeypatch.context() as m:
        m.setattr(markdown.util, "get_installed_extensions", lambda: pytest.fail("scanned the entry points"))
        mine = Renderer(config).md.convert(body)
    names = ["abbr", "attr_list", "def_list", "md_in_html", "tables", "sane_lists"]
    ours = [GoldmarkFootnotesExtension(), CommonMarkListsExtension(), CommonMarkExtension()]
    by_name = markdown.Markdown(
        extensions=[*names, "pymdownx.highlight", "pymdownx.superfences", "pymdownx.tilde", *ours],
        extension_configs={"pymdownx.highlight": {"use_pygments": False}, "pymdownx.tilde": {"subscript": False}},
    )
    assert mine == by_name.convert(body)
    assert all(s in mine for s in ("<abbr", "<dl>", "<table>", "language-js", "<em>inside</em>", 'class="c"', "<del>"))


def test_fenced_code_inside_lists_and_quotes_stays_a_code_block_without_markup(make_site) -> None:
    # Python-Markdown's own fenced_code turned these into inline code led by the language name.
    config = make_site({"posts/a.md": post_text()})
    body = '1. Install:\n\n    ```sh\n    pip install "x<2"\n    ```\n\n2. Run it.\n\n> ```python\n> print(1)\n> ```\n'
    html = Renderer(config).markdown_html(body, BASE)
    assert '<pre class="highlight"><code class="language-sh">pip install "x&lt;2"</code></pre>' in html
    assert '<code class="language-python">print(1)</code>' in html
    assert html.count("<ol>") == 1 and "<span" not in html  # one list; no Pygments markup


def test_strikethrough_is_hugos_double_tilde_only(make_site) -> None:
    # Goldmark (Hugo) strikes ~~text~~, CJK too; a single ~ is literal (no subscript), and
    # code keeps its tildes.
    config = make_site({"posts/a.md": post_text()})
    html = Renderer(config).markdown_html("~~已取消~~的計畫, H~2~O, `~~x~~`\n\n```\n~~y~~\n```\n", BASE)
    assert "<del>已取消</del>的計畫" in html
    assert "H~2~O" in html and "<sub>" not in html
    assert "<code>~~x~~</code>" in html and "~~y~~" in html


def test_check_compiles_every_template_and_names_each_broken_one(make_site, tmp_path) -> None:
    # A broken email template must show up in `publisher check`, not at the first send.
    templates = tmp_path / "site" / "t"
    (templates / "web").mkdir(parents=True)
    (templates / "email.html").write_text("<p>{% if x %}never closed</p>\n")
    (templates / "web" / "page.html").write_text("ok\n{{ broken( }}\n")
    config = make_site({"posts/a.md": post_text()}, templates_dir="t")
    with pytest.raises(TemplateError) as caught:
        check(config, now=NOW)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{templates / 'email.html'}:1: ")
    assert lines[1].startswith(f"{templates / 'web' / 'page.html'}:2: ")


def test_emoji_shortcodes_become_characters_only_when_enabled_as_in_hugo(make_site) -> None:
    body = "Launch :rocket: 中文:+1: at 10:30:00, `:smile:` and :no-such-emoji:"
    plain = Renderer(make_site({"posts/a.md": post_text()})).markdown_html(body, BASE)
    assert ":rocket:" in plain and "🚀" not in plain
    html = Renderer(make_site({"posts/a.md": post_text()}, emoji=True)).markdown_html(body, BASE)
    assert "Launch 🚀 中文👍 at 10:30:00" in html
    assert "<code>:smile:</code>" in html and ":no-such-emoji:" in html and "<img" not in html


def test_the_text_part_keeps_links_and_the_alt_text_of_images() -> None:
    html = '<p>看圖：<a href="https://x.example/">連結</a></p><p><img src="a.png" alt="架構圖"><img src="b.png"></p>'
    assert html_to_text(html) == "看圖：[連結](https://x.example/)\n\n[架構圖]"
