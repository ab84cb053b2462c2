"""Block quotes as Hugo's Goldmark reads them: a blank line ends a quote."""

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
}


@pytest.fixture
def renderer(make_site) -> Renderer:
    return Renderer(make_site({"posts/a.md": post_text()}))


def _quotes(html: str) -> list[list[str]]:
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    return [[p.text_content() for p in quote.iter("p")] for quote in root.iterfind("blockquote")]


def test_a_blank_line_between_quotes_makes_two_quotes(renderer) -> None:
    assert _quotes(renderer.markdown_html(CASES["two_quotes"], "")) == [["第一段引言"], ["第二段引言"]]


def test_a_quoted_blank_line_keeps_one_quote(renderer) -> None:
    assert _quotes(renderer.markdown_html(CASES["one_quote_two_paragraphs"], "")) == [["one", "two"]]


@pytest.mark.parametrize("name", CASES)
def test_same_html_as_hugo(renderer, hugo_html, name: str) -> None:
    hugo = hugo_html({name: CASES[name]})[name]
    assert canonical_html(renderer.markdown_html(CASES[name], "")) == canonical_html(hugo)
