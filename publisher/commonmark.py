"""CommonMark's rules where Python-Markdown keeps Markdown.pl's, so a feed item or an email
reads as the blog's Hugo (Goldmark) page does. Lists, the largest of these, have their own
module (`commonmark_lists`).

- A blank line ends a block quote: `> a`, a blank line and `> b` are two quotes (Python-Markdown
  made one quote of two paragraphs).
- A heading needs a space after its `#`s: a line starting `#標籤` or `#123` is text (Python-Markdown
  made it a heading, splitting the paragraph it was in); only `#`s after a space close it
  (`# C#` is "C#"); it may be indented up to 3 spaces.
- Any ASCII punctuation can be escaped with a backslash (`\\$12`, `50\\%`), not just Markdown's
  own characters; a backslash at the end of a line is a line break.
- A reference link's label may hold code (`` [`Vec`][] ``, `` [`Vec`] ``, common in technical
  posts): Python-Markdown looked the label up after turning the code into a placeholder, found
  nothing and showed the brackets. And no space may come between a link's text and its label:
  `[a] [b]` is two links (Python-Markdown made one, with b's address and a's text). A label
  defined twice links to its first definition (Python-Markdown took the last).
- A line that is one whole HTML tag of an inline element (`<img ...>`, `<br>`, `<a href=...>`,
  `</span>`), at a block's start, begins raw HTML up to the next blank line, as Goldmark reads
  it (CommonMark's HTML block "type 7"): Python-Markdown wrapped it in a paragraph, adding
  paragraph margins around every image a post places on a line of its own.
"""

from __future__ import annotations

import html
import re
import string
from typing import Any
from xml.etree import ElementTree as etree

from markdown import Markdown, util
from markdown.blockprocessors import BlockProcessor, BlockQuoteProcessor, HashHeaderProcessor
from markdown.extensions import Extension
from markdown.extensions.attr_list import AttrListTreeprocessor, isheader
from markdown.inlinepatterns import (
    IMAGE_REFERENCE_RE,
    REFERENCE_RE,
    HtmlInlineProcessor,
    ImageReferenceInlineProcessor,
    ReferenceInlineProcessor,
    ShortImageReferenceInlineProcessor,
    ShortReferenceInlineProcessor,
    SubstituteTagInlineProcessor,
)
from markdown.postprocessors import Postprocessor
from markdown.preprocessors import Preprocessor


class _QuoteProcessor(BlockQuoteProcessor):
    def lastChild(self, parent: Any) -> None:
        return None  # the base class asks only to continue the quote before a blank line


class _HeadingProcessor(HashHeaderProcessor):
    # Text only after a space or a tab; the whole line, greedily (a lazy pattern that looks for
    # the closing #s at every position took seconds on a long run of spaces).
    RE = re.compile(r"(?:^|\n)[ ]{0,3}(?P<level>#{1,6})(?P<header>(?:[ \t][^\n]*)?)(?:\n|$)")

    def run(self, parent: Any, blocks: list[str]) -> None:
        super().run(parent, blocks)  # the heading is now parent's last child; what follows is unread
        heading = parent[-1]
        text = (heading.text or "").strip()
        bare = text.rstrip("#")
        if bare != text and (not bare or bare[-1] in " \t"):
            text = bare.rstrip()  # a closing run of #s, only after a space (`# C#` keeps its #)
        heading.text = text


_TAG = r"[A-Za-z][A-Za-z0-9-]*"
_ATTRIBUTE = r"""\s+[A-Za-z_:][A-Za-z0-9_.:-]*(?:\s*=\s*(?:[^\s"'=<>`]+|'[^']*'|"[^"]*"))?"""
_LINE_ATTRIBUTE = _ATTRIBUTE.replace(r"\s", r"[ \t]")  # a tag alone on its line is all on that line
# CommonMark's complete open or closing tag, alone on its line (up to 3 spaces before it): an
# HTML block of type 7, if its tag is none of _NOT_TYPE_7
HTML_TAG_LINE = re.compile(
    rf"[ ]{{0,3}}(?:<(?P<open>{_TAG})(?:{_LINE_ATTRIBUTE})*[ \t]*/?>|</(?P<close>{_TAG})[ \t]*>)[ \t]*(?:\n|$)"
)
_NOT_TYPE_7 = {"pre", "script", "style", "textarea"}  # blocks of their own kind (type 1)
# CommonMark's inline raw HTML: a tag by its grammar (Python-Markdown took any `<word ...>`), a
# comment, a processing instruction, a declaration or a CDATA section
# (each kind stops at the next of its own opening, as Python-Markdown's comment pattern does:
# otherwise a long line of `<?` or `<!A` took seconds, every one scanning to the end)
RAW_HTML_RE = (
    rf"(<(?:{_TAG}(?:{_ATTRIBUTE})*\s*/?|/{_TAG}\s*|!--(?:(?!<!--).)*?--|\?(?:(?!<\?).)*?\?|"
    r"![A-Za-z][^<>]*|!\[CDATA\[(?:(?!<!\[CDATA\[).)*?\]\])>)"
)


class _HtmlLineProcessor(BlockProcessor):
    """A block opening with an element's whole tag on a line of its own is raw HTML (see the
    module's docstring); block-level elements seldom get here, as the HTML preprocessor takes
    them first."""

    def __init__(self, parser: Any):
        super().__init__(parser)
        self.placeholders: set[str] = set()  # this document's raw blocks, for _UnwrapHtmlLines

    def test(self, parent: Any, block: str) -> bool:
        m = HTML_TAG_LINE.match(block)
        return m is not None and (m["open"] or m["close"]).lower() not in _NOT_TYPE_7

    def run(self, parent: Any, blocks: list[str]) -> None:
        placeholder = self.parser.md.htmlStash.store(blocks.pop(0).strip())
        self.placeholders.add(placeholder)
        etree.SubElement(parent, "p").text = util.AtomicString(placeholder)


class _UnwrapHtmlLines(Postprocessor):
    """Takes the <p> off each raw block of _HtmlLineProcessor, before the raw-HTML
    postprocessor, which keeps the <p> around a stashed inline element (an <img> inside a
    sentence needs it)."""

    def __init__(self, md: Markdown, blocks: _HtmlLineProcessor):
        super().__init__(md)
        self.blocks = blocks

    def run(self, text: str) -> str:
        for placeholder in self.blocks.placeholders:
            text = text.replace(f"<p>{placeholder}</p>", placeholder)
        self.blocks.placeholders.clear()
        return text


_ESCAPED = re.compile(f"{util.STX}([0-9]+){util.ETX}")  # a backslash-escaped character, as stashed


class _Labels:
    """For the reference processors: CommonMark's label rules (see the module's docstring)."""

    RE_LINK = re.compile(r"\[([^\]]*)\]", re.DOTALL)  # right after the text: no space between
    md: Markdown

    def evalId(self, data: str, index: int, text: str) -> tuple[str | None, int, bool]:
        label, end, handled = super().evalId(data, index, text)  # type: ignore[misc]
        if handled and label is not None and util.STX in label and label not in self.md.references:
            written = util.INLINE_PLACEHOLDER_RE.sub(self._as_written, label)
            written = _ESCAPED.sub(lambda m: "\\" + chr(int(m.group(1))), written)  # `\%` as written
            written = re.sub(r"\s+", " ", written).lower()
            if written in self.md.references:
                label = written
        return label, end, handled

    def _as_written(self, m: re.Match[str]) -> str:
        """A placeholder back as the source wrote it: a code span in backticks (one more than
        the longest run inside), anything else as its text."""
        value = self.md.treeprocessors["inline"].stashed_nodes.get(m.group(1))  # type: ignore[attr-defined]
        if isinstance(value, str):
            return value
        if value is None:
            return m.group(0)
        text = html.unescape("".join(value.itertext()))
        if value.tag != "code":
            return text
        ticks = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
        return f"{ticks} {text} {ticks}" if text.startswith("`") or text.endswith("`") else f"{ticks}{text}{ticks}"


class _Reference(_Labels, ReferenceInlineProcessor):
    pass


class _ShortReference(_Labels, ShortReferenceInlineProcessor):
    pass


class _ImageReference(_Labels, ImageReferenceInlineProcessor):
    pass


class _ShortImageReference(_Labels, ShortImageReferenceInlineProcessor):
    pass


class _FirstDefinitionWins(dict):
    """md.references (Markdown.reset clears it, so it stays this type): a later definition of
    the same label is ignored."""

    def __setitem__(self, label: str, value: Any) -> None:
        if label not in self:
            super().__setitem__(label, value)


# `&#` that starts no character reference (`&# 95;`, `&#xZZ;`): Python's HTML parser, which
# md_in_html runs over the whole text, stops at it, and md_in_html then mixed up the text around
# the next HTML block. It goes past the parser as a private-use character and comes out as
# `&amp;` at the end, which shows `&` in text, code and attributes alike.
_BAD_CHARREF = re.compile(r"&(?=#(?!(?:[0-9]+|[xX][0-9a-fA-F]+)[^0-9a-fA-F]))")
_AMPERSAND = "\ue000"


class _HideBadCharrefs(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        text = "\n".join(lines)
        if "&#" not in text or _AMPERSAND in text:
            return lines
        return _BAD_CHARREF.sub(_AMPERSAND, text).split("\n")


class _ShowBadCharrefs(Postprocessor):
    def run(self, text: str) -> str:
        return text.replace(_AMPERSAND, "&amp;") if _AMPERSAND in text else text


class _HeadingAttributes(AttrListTreeprocessor):
    """attr_list where Hugo's Goldmark reads attributes: on headings (`## Title {#id .x}`)
    only. Elsewhere a `{...}` is text, as on the blog's page: `add {feature}` at the end of a
    table cell, or `{ "_id" : ObjectId(...) }` ending a paragraph, became attributes (and the
    placeholders of their code showed in the text)."""

    def run(self, doc: Any) -> None:
        for heading in [el for el in doc.iter() if isheader(el)]:
            super().run(heading)


class CommonMarkExtension(Extension):
    def reset(self) -> None:
        self.html_lines.placeholders.clear()

    def extendMarkdown(self, md: Markdown) -> None:
        md.references = _FirstDefinitionWins()
        md.parser.blockprocessors.register(_QuoteProcessor(md.parser), "quote", 20)
        md.parser.blockprocessors.register(_HeadingProcessor(md.parser), "hashheader", 70)
        # after indented code (80) and tables (75), before setext headings (60): `<b>` over `===` is HTML
        self.html_lines = html_lines = _HtmlLineProcessor(md.parser)
        md.registerExtension(self)  # for reset(): a conversion that failed leaves no placeholders
        md.parser.blockprocessors.register(html_lines, "html_line", 65)
        md.postprocessors.register(_UnwrapHtmlLines(md, html_lines), "unwrap_html_lines", 31)  # raw_html: 30
        md.preprocessors.register(_HideBadCharrefs(md), "hide_bad_charrefs", 21)  # before html_block (20)
        md.treeprocessors.register(_HeadingAttributes(md), "attr_list", 8)  # in attr_list's place
        md.postprocessors.register(_ShowBadCharrefs(md), "show_bad_charrefs", 1)  # last
        md.ESCAPED_CHARS = [*md.ESCAPED_CHARS, *(c for c in string.punctuation if c not in md.ESCAPED_CHARS)]
        # after `escape` (180), so an escaped backslash (`a \\` ending a line of LaTeX) is no break
        md.inlinePatterns.register(SubstituteTagInlineProcessor(r"\\\n", "br"), "backslash-break", 175)
        md.inlinePatterns.register(HtmlInlineProcessor(RAW_HTML_RE, md), "html", 90)
        for cls, pattern, name, priority in (
            (_Reference, REFERENCE_RE, "reference", 170),
            (_ImageReference, IMAGE_REFERENCE_RE, "image_reference", 140),
            (_ShortReference, REFERENCE_RE, "short_reference", 130),
            (_ShortImageReference, IMAGE_REFERENCE_RE, "short_image_ref", 125),
        ):
            md.inlinePatterns.register(cls(pattern, md), name, priority)
