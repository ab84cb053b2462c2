"""CommonMark's rules for quotes, headings, escapes, line breaks and reference labels, as Hugo's
Goldmark reads them."""

from __future__ import annotations

import pytest
from lxml import html as lxml_html

from publisher.rendering import Renderer
from tests.conftest import canonical_html, post_text

CASES = {
    "two_quotes": "> 第一段引言\n\n> 第二段引言\n",
    "one_quote_two_paragraphs": "> one\n>\n> two\n",
    "lazy_line_then_a_new_quote": "> one\nlazy\n\n> two\n",
    "nested_quotes_apart": "> > a\n\n> > b\n",
    "outer_quote_goes_on": "> > inner\n>\n> outer\n",
    "quote_paragraph_quote": "> one\n\ntext\n\n> two\n",
    "quote_in_a_list_item": "- item\n\n  > one\n\n  > two\n",
    "hashtag_at_a_line_start": "今天聊到\n#數位遊牧 與 #遠距工作\n",
    "issue_number_on_its_own_line": "See issue\n#123 for details.\n",
    "heading_needs_a_space": "#Not a heading\n\n## A heading ##\n",
    "closing_hashes_need_a_space": "# C#\n\n## F# and C# ##\n",
    "indented_heading_and_seven_hashes": "   ### three spaces\n\n####### seven\n",
    "empty_headings": "#\n\n## ##\n",
    "heading_interrupts_a_paragraph": "text\n## 標題\nmore\n",
    "any_punctuation_escapes": "Price \\$12, 50\\% off, e\\@f, \\:smile\\:, \\<b\\>, a\\&b\n",
    "backslash_line_break": "第一行\\\n第二行\n",
    "escaped_backslash_at_a_line_end_is_no_break": "a \\\\\nb\n",
    "heading_ending_in_a_backslash": "# foo\\\nbar\n\n## C:\\Users\\\n",
    "labels_with_escapes": "[50\\% off] and [a\\$b][]\n\n[50\\% off]: https://a.example/\n[a\\$b]: https://b.example/\n",
    "backslash_in_code_is_kept": "`a\\$b` and\n\n    c\\%d\n",
    "reference_labels_with_code": (
        "Use [`Vec`][] and [`HashMap`] and [the `Arc` type][arc], ![`img`][].\n\n"
        "[`vec`]: https://doc.rust-lang.org/vec\n[`HashMap`]: https://doc.rust-lang.org/hm\n"
        "[arc]: https://doc.rust-lang.org/arc\n[`img`]: /i.png\n"
    ),
    "first_definition_wins": "[home] and [Home][]\n\n[home]: https://first.example/\n[HOME]: https://second.example/\n",
    "text_and_label_apart_are_two_links": (
        "Recordings from [both] [meetings], and [a][b].\n\n"
        "[both]: https://a.example/\n[meetings]: https://b.example/\n[b]: https://bb.example/\n"
    ),
    "image_on_a_line_of_its_own": '節目封面：\n\n<img src="https://x.example/cover.png" alt="封面">\n\n下一段\n',
    "raw_html_lines_run_to_a_blank_line": (
        '<a href="https://x.example/">\n<img src="https://x.example/a.png">\n</a>\n*not emphasis*\n\nnext\n'
    ),
    "html_lines_in_lists_and_quotes": (
        '- item\n\n  <img src="https://x.example/a.png">\n\n- <br>\n\n'
        '> <img src="https://x.example/b.png" title="a > b">\n'
    ),
    "text_in_angle_brackets_is_text": (
        "格式：https://cdn.jsdelivr.net/gh/<GitHub帳號>/<倉庫名稱>\n\n"
        "方法接收一個 Func<RequestDelegate, RequestDelegate> 的委託，或 Dictionary<Tkey,TValue>。\n\n"
        "wsdl.exe <選項> <URL 或路徑>\n"
    ),
    "inline_html_by_commonmarks_grammar": (
        'x <span class="a">s</span> <img src="https://x.example/a.png" /> <!-- c --> <?php x ?> <!DOCTYPE html> '
        '<![CDATA[z]]> <a\nhref="https://x.example/">l</a> <x-y data-v=1>t</x-y> </foo > <br/>\n\n'
        "<https://x.example> <a@b.example> `<code>` a < b > c <a/b> <1x> <a_b>\n"
    ),
    "a_tag_over_two_lines_is_no_html_line": 'a\n\n<img src="https://x.example/a.png"\n alt="y">\n\nb\n',
    "an_ampersand_hash_that_starts_no_reference": (
        "fix <span>&# 95;</span> bug, 價格 <b>&#xZZ;</b> 元, `&# 95;` and &#95;\n\n    indented &# 1;\n\n"
        '<p title="a &# b">x</p>\n\n<div class="c">\n\n*x*\n\n</div>\n'
    ),
    "braces_are_attributes_on_headings_only": (
        "## Title {#custom .x}\n\ntext {.para}\n\n| a | b |\n|---|---|\n| add {feature} | x |\n\n"
        "> db.find()\n{ _id : ObjectId(502b), a : 1 }\n\n*em*{: .c} and [l](https://x.example/){: .d}\n"
    ),
    "inline_tags_inside_a_paragraph_stay_in_it": (
        'text\n<img src="https://x.example/a.png">\n\n<img src="https://x.example/a.png"> and words\n\n'
        "<span>x</span>\n\n<https://x.example/>\n\n<a@x.example>\n\n    <img src=code.png>\n"
    ),
}


@pytest.fixture
def renderer(make_site) -> Renderer:
    return Renderer(make_site({"posts/a.md": post_text()}))


def _quotes(html: str) -> list[list[str]]:
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    return [[p.text_content() for p in quote.iter("p")] for quote in root.iterfind("blockquote")]


def test_a_blank_line_between_quotes_makes_two_quotes(renderer) -> None:
    assert _quotes(renderer.markdown_html(CASES["two_quotes"], "")) == [["第一段引言"], ["第二段引言"]]


def _headings(html: str) -> list[str]:
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    return [f"{h.tag}:{h.text_content()}" for h in root if h.tag.startswith("h")]


def test_a_hash_without_a_space_is_text_not_a_heading(renderer) -> None:
    html = renderer.markdown_html(CASES["hashtag_at_a_line_start"], "")
    assert _headings(html) == [] and "#數位遊牧 與 #遠距工作" in html
    assert _headings(renderer.markdown_html(CASES["closing_hashes_need_a_space"], "")) == ["h1:C#", "h2:F# and C#"]


def test_punctuation_escapes_and_line_breaks(renderer) -> None:
    html = renderer.markdown_html(CASES["any_punctuation_escapes"], "")
    assert "Price $12, 50% off, e@f, :smile:, &lt;b&gt;, a&amp;b" in html
    assert "第一行<br" in renderer.markdown_html(CASES["backslash_line_break"], "")


def test_reference_links_with_code_in_the_label_and_links_apart(renderer) -> None:
    def links(name: str) -> list[tuple[str, str]]:
        root = lxml_html.fragment_fromstring(renderer.markdown_html(CASES[name], ""), create_parent="div")
        return [(a.text_content(), a.get("href")) for a in root.iter("a")]

    assert links("reference_labels_with_code") == [
        ("Vec", "https://doc.rust-lang.org/vec"),
        ("HashMap", "https://doc.rust-lang.org/hm"),
        ("the Arc type", "https://doc.rust-lang.org/arc"),
    ]
    assert links("first_definition_wins") == [("home", "https://first.example/"), ("Home", "https://first.example/")]
    assert links("text_and_label_apart_are_two_links") == [
        ("both", "https://a.example/"),
        ("meetings", "https://b.example/"),
        ("a", "https://bb.example/"),
    ]


def test_a_tag_alone_on_its_line_is_raw_html_without_a_paragraph(renderer) -> None:
    root = lxml_html.fragment_fromstring(
        renderer.markdown_html(CASES["image_on_a_line_of_its_own"], ""), create_parent="div"
    )
    assert [el.tag for el in root] == ["p", "img", "p"]
    html = renderer.markdown_html(CASES["raw_html_lines_run_to_a_blank_line"], "")
    assert "*not emphasis*" in html and "<p><a" not in html
    root = lxml_html.fragment_fromstring(
        renderer.markdown_html(CASES["inline_tags_inside_a_paragraph_stay_in_it"], ""), create_parent="div"
    )
    assert [el.tag for el in root] == ["p", "p", "p", "p", "p", "pre"]


def test_text_in_angle_brackets_that_is_no_tag_shows(renderer) -> None:
    html = renderer.markdown_html(CASES["text_in_angle_brackets_is_text"], "")
    text = lxml_html.fragment_fromstring(html, create_parent="div").text_content()
    for shown in (
        "/<GitHub帳號>/<倉庫名稱>",
        "Func<RequestDelegate, RequestDelegate>",
        "Dictionary<Tkey,TValue>",
        "<URL 或路徑>",
    ):
        assert shown in text


def test_an_ampersand_hash_that_starts_no_reference_garbles_nothing(renderer) -> None:
    # Python's HTML parser stopped at `&# 95;`, and the text around the next HTML block came
    # out mixed up, with md_in_html's markers in it.
    html = renderer.markdown_html(CASES["an_ampersand_hash_that_starts_no_reference"], "")
    text = lxml_html.fragment_fromstring(html, create_parent="div").text_content()
    assert "fix &# 95; bug, 價格 &#xZZ; 元, &# 95; and _" in text and "indented &# 1;" in text
    assert text.count("bug") == 1 and "markdown=" not in html and "<em>x</em>" in html


def test_relative_sources_in_html_lines_are_made_absolute(renderer) -> None:
    html = renderer.markdown_html('<img src="cover.png">\n', "https://blog.example.com/posts/a/")
    assert html.strip() == '<img src="https://blog.example.com/posts/a/cover.png">'


def test_a_quoted_blank_line_keeps_one_quote(renderer) -> None:
    assert _quotes(renderer.markdown_html(CASES["one_quote_two_paragraphs"], "")) == [["one", "two"]]


@pytest.mark.parametrize("name", CASES)
def test_same_html_as_hugo(renderer, hugo_html, name: str) -> None:
    hugo = hugo_html({name: CASES[name]})[name]
    assert canonical_html(renderer.markdown_html(CASES[name], "")) == canonical_html(hugo)
