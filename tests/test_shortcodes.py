"""Hugo shortcodes in post bodies: parsed as Hugo writes them, rendered for feed readers and email."""

from __future__ import annotations

import os

import feedparser
import pytest

from publisher.publishing import build, load_site
from publisher.rendering import Renderer
from publisher.shortcodes import parse_tag
from tests.conftest import NOW, post_text


@pytest.mark.parametrize(
    ("text", "name", "args", "kwargs", "closing", "self_closing"),
    [
        ("{{< youtube ZJthWmvUzzc >}}", "youtube", ["ZJthWmvUzzc"], {}, False, False),
        (
            '{{<figure src="/a b.png" caption="say \\"hi\\"" >}}',
            "figure",
            [],
            {"src": "/a b.png", "caption": 'say "hi"'},
            False,
            False,
        ),
        ('{{% note `raw "text"` %}}', "note", ['raw "text"'], {}, False, False),
        ("{{< /highlight >}}", "highlight", [], {}, True, False),
        ('{{< x user="a"\n  id=12 />}}', "x", [], {"user": "a", "id": "12"}, False, True),
        ('{{< ref "posts/b.md#part" >}}', "ref", ["posts/b.md#part"], {}, False, False),
    ],
)
def test_tags_parse_as_hugo_writes_them(text, name, args, kwargs, closing, self_closing) -> None:
    tag = parse_tag(text, 0)
    assert tag is not None
    assert (tag.name, tag.args, tag.kwargs, tag.closing, tag.self_closing) == (
        name,
        args,
        kwargs,
        closing,
        self_closing,
    )
    assert tag.end == len(text)


@pytest.mark.parametrize("text", ["{{< >}}", "{{< name", '{{< a "unterminated >}}'])
def test_what_is_not_a_tag_is_left_as_text(text) -> None:
    assert parse_tag(text, 0) is None


def render(make_site, body: str, files: dict[str, str] | None = None, **settings) -> str:
    config = make_site({"posts/hello.md": post_text(body=body, mood="<calm>"), **(files or {})}, **settings)
    post = next(p for p in load_site(config, now=NOW).posts if p.relpath == "posts/hello.md")
    return Renderer(config).render_post(post, body).html


def test_video_and_social_embeds_become_links_that_work_without_scripts(make_site) -> None:
    body = (
        '{{< youtube ZJthWmvUzzc >}}\n\n{{< youtube id=abc start=30 title="A <talk>" >}}\n\n'
        '{{< vimeo_simple 48912912 >}}\n\n{{< x user="designreviewed" id="1085870671291310081" >}}\n\n'
        "{{< tweet 877500564405444608 >}}\n\n{{< instagram BWNjjyYFxVx >}}\n\n{{< gist spf13 7896402 img.html >}}\n"
    )
    html = render(make_site, body)
    assert (
        '<a href="https://www.youtube.com/watch?v=ZJthWmvUzzc"><img src="https://i.ytimg.com/vi/ZJthWmvUzzc/hqdefault.jpg"'
        in html
    )
    assert 'href="https://www.youtube.com/watch?v=abc&amp;t=30s"' in html and 'alt="A &lt;talk&gt;"' in html
    assert 'href="https://vimeo.com/48912912"' in html
    assert 'href="https://x.com/designreviewed/status/1085870671291310081"' in html
    assert 'href="https://x.com/i/status/877500564405444608"' in html
    assert 'href="https://www.instagram.com/p/BWNjjyYFxVx/"' in html
    assert 'href="https://gist.github.com/spf13/7896402#file-img-html"' in html
    assert "{{" not in html and "iframe" not in html and "<script" not in html


def test_figure_with_caption_markdown_and_relative_image(make_site) -> None:
    body = '{{< figure src="cover.png" link="/big.png" alt="封面" title="Title" caption="A **bold** caption" >}}\n'
    html = render(make_site, body)
    assert (
        '<a href="https://blog.example.com/big.png">'
        '<img src="https://blog.example.com/posts/hello/cover.png" alt="封面"' in html
    )
    assert "<figcaption><h4>Title</h4><p>A <strong>bold</strong> caption</p></figcaption>" in html


def test_highlight_is_an_escaped_code_block_and_nothing_inside_is_taken_as_html(make_site) -> None:
    code = '<html lang="en">\n<title>T & U</title>'
    body = f'Before.\n\n{{{{< highlight html "linenos=table" >}}}}\n{code}\n{{{{< /highlight >}}}}\n\nAfter.\n'
    html = render(make_site, body)
    assert (
        '<pre><code class="language-html">&lt;html lang="en"&gt;\n&lt;title&gt;T &amp; U&lt;/title&gt;</code></pre>'
        in html
    )
    assert "<p>Before.</p>" in html and "<p>After.</p>" in html


def test_highlight_with_hl_inline_is_inline_code_in_its_sentence(make_site) -> None:
    body = 'Call {{< highlight go "hl_inline=true, linenos=false" >}}fmt.Println("<hi>"){{< /highlight >}} once.\n'
    html = render(make_site, body)
    assert '<p>Call <code class="code-inline language-go">fmt.Println("&lt;hi&gt;")</code> once.</p>' in html


def test_operator_shortcodes_percent_form_is_markdown_angle_form_is_html(make_site, tmp_path) -> None:
    own = tmp_path / "site" / "mine" / "shortcodes"
    own.mkdir(parents=True)
    (own / "note.html").write_text('<aside class="note">{{ inner | markdownify }} ({{ get("kind", 0) }})</aside>')
    (own / "stars.html").write_text("**{{ args[0] }} stars**")
    body = "{{< note warning >}}Read *this*.{{< /note >}}\n\nRated {{% stars 5 %}} and {{< stars 4 >}}.\n"
    html = render(make_site, body, templates_dir="mine")
    assert '<aside class="note">Read <em>this</em>. (warning)</aside>' in html
    assert "Rated <strong>5 stars</strong> and **4 stars**." in html


def test_unknown_shortcodes_keep_their_inner_content_and_lose_their_tags(make_site) -> None:
    body = (
        "{{< mytheme/callout >}}Kept *text*.{{< /mytheme/callout >}}\n\n"
        "A {{< badge new >}} b.\n\n{{< now.inline >}}{{ now }}{{< /now.inline >}}\n"
    )
    html = render(make_site, body)
    assert "<p>Kept <em>text</em>.</p>" in html
    assert "<p>A  b.</p>" in html
    assert "{{" not in html and "now" not in html


def test_escaped_shortcodes_are_written_out_literally(make_site) -> None:
    html = render(make_site, "Write `{{</* youtube ID */>}}` or {{%/* x */%}}.\n")
    assert "<code>{{&lt; youtube ID &gt;}}</code>" in html and "{{% x %}}" in html


def test_param_and_summary_divider(make_site) -> None:
    html = render(make_site, "Mood: {{< param mood >}}.\n\n<!--more-->\n\nRest.\n")
    assert "Mood: &lt;calm&gt;." in html  # front matter text, escaped like any text
    assert "more--" not in html


def test_builtin_shortcodes_speak_the_site_language(make_site) -> None:
    html = render(make_site, "{{< youtube abc >}}\n", language="zh-TW")
    assert "在 YouTube 觀看" in html


# -- ref/relref: links between posts, through whole builds ----------------------------------


def entry(config, slug: str) -> str:
    """The RSS item's HTML content of the post with this slug, as a feed reader reads it."""
    parsed = feedparser.parse((config.output_dir / "index.xml").read_bytes())
    assert not parsed.bozo
    return next(e for e in parsed.entries if e.link.rstrip("/").endswith("/" + slug)).content[0].value


def test_ref_and_relref_link_to_the_other_posts_url_and_follow_it_when_it_moves(make_site) -> None:
    body = '[By path]({{< ref "posts/b.md" >}}), [by name]({{< relref "b" >}}), [part]({{< ref "b.md#part" >}}).'
    config = make_site({"posts/a.md": post_text("A", body=body), "posts/b.md": post_text("B", slug="bee")})
    assert build(config, now=NOW).ok
    html = entry(config, "a")
    assert html.count('href="https://blog.example.com/posts/bee/"') == 2
    assert 'href="https://blog.example.com/posts/bee/#part"' in html

    b = config.content_dir / "posts" / "b.md"
    b.write_text(post_text("B", slug="bumble"))  # B's URL changes; A's file does not
    st = b.stat()
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert build(config, now=NOW).ok
    html = entry(config, "a")
    assert "/posts/bee/" not in html and html.count('href="https://blog.example.com/posts/bumble/"') == 2


def test_a_ref_in_a_translation_leads_to_the_page_in_its_own_language(make_site) -> None:
    # Hugo resolves "posts/b.md" from a zh-cn page to b.zh-cn.md (and a bundle to its zh-cn index).
    body = '[B]({{< ref "posts/b.md" >}}) [C]({{< ref "c" >}})'
    files = {
        "posts/a.zh-cn.md": post_text("A", body=body),
        "posts/b.md": post_text("B"),
        "posts/b.zh-cn.md": post_text("乙"),
        "posts/c/index.zh-cn.md": post_text("丙"),
    }
    config = make_site(files, languages=["en", "zh-cn"], content_language="zh-cn")
    assert build(config, now=NOW).ok
    entries = feedparser.parse((config.output_dir / "zh-cn/index.xml").read_bytes()).entries
    html = next(e for e in entries if e.title == "A").content[0].value
    assert 'href="https://blog.example.com/zh-cn/posts/b/"' in html
    assert 'href="https://blog.example.com/zh-cn/posts/c/"' in html


def test_a_ref_to_no_post_rejects_that_post_naming_the_line(make_site) -> None:
    body = 'Line one.\n\nSee [gone]({{< ref "nowhere.md" >}}).\n'
    config = make_site({"posts/a.md": post_text("A", body=body), "posts/ok.md": post_text("OK")})
    report = build(config, now=NOW)
    (problem,) = report.site.problems
    assert problem.path.endswith("posts/a.md") and problem.line == 8
    assert problem.message.startswith("ref 'nowhere.md' matches no post")
    titles = [e.title for e in feedparser.parse((config.output_dir / "index.xml").read_bytes()).entries]
    assert titles == ["OK"]


def test_a_new_post_with_a_ref_in_a_warm_rebuild_is_rendered_with_the_link(make_site) -> None:
    # The rebuild's helper process starts before the index is read: it hands such a post back.
    config = make_site({"posts/b.md": post_text("B")})
    build(config, now=NOW)
    body = 'See [B]({{< ref "b.md" >}}).'
    (config.content_dir / "posts" / "a.md").write_text(post_text("A", date="2026-01-11T09:00:00+08:00", body=body))
    report = build(config, now=NOW)
    assert report.ok
    assert 'href="https://blog.example.com/posts/b/"' in entry(config, "a")
