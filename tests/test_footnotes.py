"""Footnotes as Hugo's Goldmark writes them: numbered in reading order, anchors named by
number (so a link made absolute lands on the blog page's note), unused notes left out."""

from __future__ import annotations

import pytest
from lxml import html as lxml_html

from publisher.rendering import Renderer
from tests.conftest import canonical_html, post_text

BASE = "https://blog.example.com/posts/a/"

CASES = {
    "referred_to_out_of_order": "First[^b] then[^a].\n\n[^a]: Note A.\n[^b]: Note B.\n",
    "numeric_labels_out_of_order": "One[^2] two[^1].\n\n[^1]: Note one.\n[^2]: Note two.\n",
    "referred_to_twice": "A[^x] B[^x] C[^y].\n\n[^y]: Why, with a [link](rel/).\n\n    Second paragraph.\n[^x]: Ex.\n",
    "never_referred_to": "No reference here.\n\n[^a]: Never used.\n",
    "one_of_two_unused": "Only[^used].\n\n[^unused]: Gone.\n[^used]: Kept.\n",
    "cjk_label": "中文[^註一]與英文[^b]。\n\n[^b]: Bee.\n[^註一]: 第一個註。\n",
    "undefined_reference": "A[^nope] and[^a].\n\n[^a]: Defined.\n",
    "referred_to_in_a_list_item": "Intro[^a].\n\n- item[^b]\n\npara[^c].\n\n[^a]: A\n[^b]: B\n[^c]: C\n",
}


@pytest.fixture
def renderer(make_site) -> Renderer:
    return Renderer(make_site({"posts/a.md": post_text()}))


def _notes(html: str) -> list[tuple[str, str]]:
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    return [
        (li.get("id"), li.text_content().split("\xa0")[0].strip())
        for li in root.iterfind(".//div[@class='footnotes']/ol/li")
    ]


def test_notes_are_numbered_in_the_order_the_text_refers_to_them(renderer) -> None:
    html = renderer.markdown_html(CASES["referred_to_out_of_order"], BASE)
    assert _notes(html) == [("fn:1", "Note B."), ("fn:2", "Note A.")]
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    refs = [(sup.get("id"), sup[0].get("href"), sup[0].text) for sup in root.iterfind(".//sup")]
    assert refs == [("fnref:1", f"{BASE}#fn:1", "1"), ("fnref:2", f"{BASE}#fn:2", "2")]


def test_a_reference_in_a_list_item_is_numbered_where_it_is_read(renderer) -> None:
    # Python-Markdown reaches a list item's text after the paragraph that follows the list.
    html = renderer.markdown_html(CASES["referred_to_in_a_list_item"], BASE)
    assert _notes(html) == [("fn:1", "A"), ("fn:2", "B"), ("fn:3", "C")]
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    assert [sup[0].text for sup in root.iterfind(".//sup")] == ["1", "2", "3"]


def test_numeric_labels_do_not_decide_the_order(renderer) -> None:
    html = renderer.markdown_html(CASES["numeric_labels_out_of_order"], BASE)
    assert _notes(html) == [("fn:1", "Note two."), ("fn:2", "Note one.")]


def test_a_note_referred_to_twice_links_back_to_both_places(renderer) -> None:
    root = lxml_html.fragment_fromstring(renderer.markdown_html(CASES["referred_to_twice"], BASE), create_parent="div")
    assert [sup.get("id") for sup in root.iterfind(".//sup")] == ["fnref:1", "fnref1:1", "fnref:2"]
    first = root.find(".//li")
    backs = [a for a in first.iter("a") if a.get("class") == "footnote-backref"]
    assert [a.get("href") for a in backs] == [f"{BASE}#fnref:1", f"{BASE}#fnref1:1"]
    assert all(a.get("title") is None for a in backs)  # no English "Jump back to footnote 1 in the text"


def test_notes_nothing_refers_to_are_left_out(renderer) -> None:
    assert "footnote" not in renderer.markdown_html(CASES["never_referred_to"], BASE)
    assert _notes(renderer.markdown_html(CASES["one_of_two_unused"], BASE)) == [("fn:1", "Kept.")]


@pytest.mark.parametrize("name", CASES)
def test_same_html_as_hugo(renderer, hugo_html, name: str) -> None:
    hugo = hugo_html({name: CASES[name]})[name]
    ours = renderer.markdown_html(CASES[name], "")  # no base: Hugo's page keeps its anchors relative
    assert canonical_html(ours) == canonical_html(hugo)
