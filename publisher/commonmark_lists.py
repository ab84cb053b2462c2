"""Lists read the way CommonMark (Hugo's Goldmark) reads them, for Python-Markdown.

Python-Markdown keeps Markdown.pl's rules for lists, and three of them wreck the lists of a blog
written for Hugo:
- a list must follow a blank line, so "重點如下：" with "- 一" and "- 二" on the next lines
  is one paragraph with dashes in it (the sample posts' source links do this);
- whatever is inside a list item is indented by 4 spaces, so a list nested by 2 spaces (or an
  ordered one by 3), and a second paragraph or a code block under an item, fall out of the
  item, and the next item can end up inside a paragraph;
- "1. a" then "- b" continues the ordered list;
- "1)" is no list marker, so "1) a", "2) b" is one line of text;
and a list inside a `>` quote needs a blank line before it too.

CommonMark decides by an item's content column: where the text after its marker starts. This
preprocessor rewrites the source into Python-Markdown's dialect before the parser sees it:
every line inside an item moves from that item's content column to 4 spaces per level, and a
blank line goes where CommonMark starts or ends a list and Python-Markdown would not.

It already follows every fenced code block, so it also hands SuperFences fences it can read:
an opening line with only the language from the info string (SuperFences read none with more
words), a blank line before a fence that interrupts a paragraph and after one that text
follows, a closing line that is the opening run as indented (CommonMark takes a longer run,
indented up to 3 spaces), and a closing line where a fence is never closed (CommonMark ends it
with its item or the document; SuperFences would show the backticks and the code as a
paragraph). And HTML blocks: where a blank line ends one before its element closes
(`<div align="center">`, a blank line, Markdown, `</div>`), CommonMark reads what follows as
Markdown and Python-Markdown keeps it all raw, so the element is marked for md_in_html.

Not the libraries that exist for it: mdx_truly_sane_lists (2-space nesting) makes 4-space and
tab nesting flat, and mdx_breakless_lists also adds blank lines inside code blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from markdown import Markdown
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor

from publisher.commonmark import HTML_TAG_LINE

_MARKER = re.compile(r"([*+-]|(\d{1,9})[.)])( +|$)")  # "1)" too, written out as "1."
_BREAK = re.compile(r"([-*_])( *\1){2,} *$")  # a thematic break, never an item ("- - -")
_FENCE = re.compile(r"(`{3,}|~{3,})(?!.*`)")  # an info string with a backtick makes no fence
_UNDERLINE = re.compile(r"(=+|-{1,2}) *$")  # what Python-Markdown takes for a heading's underline (not a break)
_ATX = re.compile(r"#{1,6}(\s|$)")  # "#tag" or "#123" is text
_QUOTE = re.compile(r"> ?")
_FOOTNOTE = re.compile(r"\[\^[^\]\s]+\]:")  # a footnote's definition: Goldmark ends a paragraph there
_BLOCK_FIRST = frozenset("*+-0123456789#`~>_<[")  # how a marker, heading, fence, quote, break, HTML, note starts
# CommonMark's HTML blocks: kinds 1 to 6 can end a paragraph, kind 7 (any other tag alone on
# its line) only starts after a blank line. Kinds 1 to 5 end at their closing mark, 6 and 7 at
# a blank line.
_HTML_CLOSED_BY = (
    (re.compile(r"<(script|pre|style|textarea)(\s|>|$)", re.I), re.compile(r"</(script|pre|style|textarea)>", re.I)),
    (re.compile(r"<!--"), re.compile(r"-->")),
    (re.compile(r"<\?"), re.compile(r"\?>")),
    (re.compile(r"<![A-Za-z]"), re.compile(r">")),
    (re.compile(r"<!\[CDATA\["), re.compile(r"\]\]>")),
)
_HTML_BLOCK_TAG = re.compile(
    r"</?(address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|"
    r"dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|header|hr|"
    r"html|iframe|legend|li|link|main|menu|menuitem|nav|noframes|ol|optgroup|option|p|param|search|"
    r"section|summary|table|tbody|td|tfoot|th|thead|title|tr|track|ul)(\s|/?>|$)",
    re.I,
)


def _html_start(text: str, after_paragraph: bool) -> re.Pattern[str] | bool | None:
    """Where an HTML block starting at `text` ends: a closing pattern, None for "at a blank
    line", or False when `text` starts no HTML block."""
    for start, end in _HTML_CLOSED_BY:
        if start.match(text):
            return end
    if _HTML_BLOCK_TAG.match(text) or (not after_paragraph and HTML_TAG_LINE.match(text)):
        return None
    return False


def _closes_itself(text: str) -> bool:
    """A line that is a whole element (`<div>x</div>`, `<br/>`) or a closing tag: Python-Markdown
    reads the lines after it as Markdown, though CommonMark's block runs on to a blank line."""
    if text.startswith("</") or text.rstrip().endswith("/>"):
        return True
    name = re.match(r"<([A-Za-z][A-Za-z0-9-]*)", text)
    return name is not None and re.search(rf"</{name.group(1)}\s*>", text, re.I) is not None


# Where a blank line ends such a block before its element closes, CommonMark reads what follows
# as Markdown, and Python-Markdown keeps the whole element raw (`<div align="center">`, a blank
# line, `**bold**`, a blank line, `</div>`: README-style centring; `<details>` around a list).
# Marked markdown="1", md_in_html reads it as CommonMark does; these are the tags it handles.
_MARKDOWN_INSIDE = re.compile(
    r"(address|article|aside|blockquote|center|dd|details|div|dl|dt|fieldset|figcaption|figure|footer|"
    r"form|header|hgroup|li|main|menu|nav|p|section|summary|table|tbody|td|tfoot|th|thead|tr)$"
)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)(?=[\s/>])(?:[^>\"']|\"[^\"]*\"|'[^']*')*?(/?)>")
_WHITESPACE_KEPT = re.compile(r"<(pre|textarea|script|style)[\s>]", re.I)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")


class _Open(NamedTuple):
    """An element an HTML block opened and has not closed yet."""

    at: int  # its output line
    column: int  # where its tag's name ends (a mark goes there)
    tag: str
    markable: bool  # md_in_html reads it as a block (see _follow_tags)


def _follow_tags(unclosed: list[_Open], at: int, line: str) -> None:
    """Keep `unclosed` up to date with the elements output line `at` opens and closes. A
    closing tag also closes what was opened after its element and left open (`<p>` in a
    `<div>`), as an HTML parser does; tags in `code` are text."""
    line = _CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)
    # md_in_html reads a tag as a block at its line's start, or right after another such tag:
    # not after text, nor after spaces between tags (a mark there would show)
    before = 0  # where the previous such tag ended; -1 once anything else came
    for m in _TAG.finditer(line):
        leading = (before == 0 and not line[: m.start()].strip()) or (before > 0 and m.start() == before)
        before = m.end() if leading else -1
        closing, tag, empty = m.group(1), m.group(2).lower(), m.group(3)
        if not _MARKDOWN_INSIDE.match(tag) or empty:
            continue
        if not closing:
            unclosed.append(_Open(at, m.end(2), tag, leading))
            continue
        for k in range(len(unclosed) - 1, -1, -1):
            if unclosed[k].tag == tag:
                del unclosed[k:]
                break


def _mark_markdown_inside(out: list[str], unclosed: list[_Open]) -> None:
    """Mark each element left open for md_in_html to read its content as Markdown blocks, as
    CommonMark does (told "1", it reads a <td>'s or a <summary>'s content as one line of text);
    a <p>'s as text, which it holds: as blocks, `<p align="center">` would end before them."""
    for at, column, tag, markable in sorted(unclosed, reverse=True):  # right to left: columns stay valid
        if markable:
            mark = "1" if tag == "p" else "block"
            out[at] = f'{out[at][:column]} markdown="{mark}"{out[at][column:]}'
    block = range(min(o.at for o in unclosed), len(out)) if unclosed else range(0)
    if not any(_WHITESPACE_KEPT.search(out[k]) for k in block):
        # md_in_html reads the lines before the blank line as Markdown too, where CommonMark keeps
        # them raw: indented, `<tbody><tr>` or text would be a code block showing the tags.
        for k in block:
            out[k] = out[k].lstrip(" \t")


def _ends_paragraph(text: str) -> bool:
    """Whether the line starts a block of its own rather than continuing a paragraph lazily."""
    return text[0] in _BLOCK_FIRST and bool(
        _ATX.match(text)
        or _FENCE.match(text)
        or text.startswith(">")
        or _BREAK.match(text)
        or _html_start(text, True) is not False
        or _FOOTNOTE.match(text) is not None
    )


@dataclass
class _Item:
    content: int  # the source column where the item's content starts
    ordered: bool
    block: int  # the block (lines between blank lines) its marker line is in


@dataclass
class _Verbatim:
    """A fenced code block or a raw HTML block: its lines move with their item, unread."""

    end: re.Pattern[str] | str | None  # a closing pattern, a fence's opening run, None: a blank line
    strip: int  # source columns taken off each line
    margin: int  # where its lines go (-1: outside lists, where nothing moves)
    within: int  # its item's content column: a line left of it ends the item, and this block
    inner: bool  # in the first block of an item (see `_rewrite`)
    unclosed: list[_Open] | None = None  # an HTML block outside lists: its open elements

    @property
    def closer(self) -> str:
        """A fence's closing line as SuperFences wants it: the opening run, indented as the
        opening line went out; "" for an HTML block."""
        if not isinstance(self.end, str):
            return ""
        return " " * (self.margin if self.margin >= 0 else self.strip) + self.end


# a fence's run and its info string's first word, the language
_INFO = re.compile(r"(`{3,}(?!`)|~{3,}(?!~))[ \t]*([^\s{]+)")
_LANGUAGE = re.compile(r"[\w#.+-]+")  # what SuperFences takes for one


def _opening(text: str) -> str:
    """A fence's opening line that SuperFences reads as Goldmark does: the language is the
    info string's first word and the rest is left out (```js 網站計時, ```go title="x.go",
    ```go {linenos=table}: SuperFences showed the first two as text, the last with junk
    attributes). An info string of attributes alone ({.python}) stays as it is."""
    m = _INFO.match(text)
    if m is None:
        return text
    language = _LANGUAGE.match(m.group(2))
    return m.group(1) + (language.group(0) if language else "")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _quoted(line: str) -> bool:
    return line.lstrip(" ").startswith(">") and _indent(line) < 4


class _ListLines(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        return _rewrite(lines)


def _rewrite(lines: list[str], in_quote: bool = False) -> list[str]:
    """The lines with every list item's content at 4 spaces per level, and blank lines added
    where CommonMark starts or ends a list. Python-Markdown splits blocks at blank lines only;
    in a block that a list item's marker line opens, it appends the lines to the item's text as
    they are (a quote or a fence there must sit just past the level's margin), and a block that starts
    indented is the previous item's (so a following item needs a blank line before it)."""
    lines = list(lines)  # (a lazy line after a quote may be escaped in place)
    out: list[str] = []
    stack: list[_Item] = []
    verbatim: _Verbatim | None = None
    # The previous line: "blank", "para" (paragraph text), "item" (an empty item's marker),
    # "inner" (a quote or fence line in an item's first block), "other" (any other block).
    prev = "blank"
    para_depth, para_first = 0, False  # the open paragraph's list depth; whether a marker line began it
    block, block_depth, block_marker = 0, 0, False  # the current block; its first line's depth and kind
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        n = _indent(line)
        text = line[n:]
        if not text:
            out.append("")
            prev = "blank"
            if verbatim is not None and verbatim.end is None:
                _mark_markdown_inside(out, verbatim.unclosed or [])
                verbatim = None  # an HTML block ends at a blank line
            continue
        if prev == "blank":
            block, block_depth, block_marker = block + 1, -1, False  # set by this line, below
        if verbatim is not None:
            if n < verbatim.within:
                if verbatim.closer:  # CommonMark closes a fence where its item ends: before its blank lines
                    at = len(out)
                    while at > 0 and not out[at - 1]:
                        at -= 1
                    out.insert(at, verbatim.closer)
                verbatim = None  # its item ended, and the block with it
            else:
                if verbatim.margin >= 0:
                    line = " " * (verbatim.margin + max(0, n - verbatim.strip)) + text
                end = verbatim.end
                if isinstance(end, str):
                    # CommonMark closes a fence with a run at least as long, indented up to 3
                    # spaces; SuperFences only with the opening run, indented as it was
                    closed = n - verbatim.within < 4 and text.startswith(end) and not text.rstrip().strip(end[0])
                    line = verbatim.closer if closed else line
                else:
                    closed = end is not None and end.search(text) is not None
                out.append(line)
                if verbatim.unclosed is not None:
                    _follow_tags(verbatim.unclosed, len(out) - 1, line)
                if closed:
                    prev = "inner" if verbatim.inner else "other"
                    if verbatim.margin < 0 and verbatim.closer and i < len(lines) and lines[i].strip():
                        out.append("")  # what follows a fence is a new block
                        prev = "blank"
                    verbatim = None
                continue

        plain = text[0] not in _BLOCK_FIRST  # most lines: then no pattern below can match
        brk = not plain and _BREAK.match(text) is not None  # a thematic break
        atx = not plain and _ATX.match(text) is not None  # a heading
        marker = None if plain or brk else _MARKER.match(text)
        lazy = prev == "para" and (plain or not _ends_paragraph(text))
        if marker is None and lazy and stack and n < stack[-1].content:
            out.append(" " * (4 * para_depth) + text)  # a lazy continuation line of the paragraph
            continue
        popped: _Item | None = None
        while stack and n < stack[-1].content:
            popped = stack.pop()
        depth = len(stack)
        rel = n - (stack[-1].content if stack else 0)
        if block_depth < 0:
            block_depth, block_marker = depth, marker is not None

        if depth == 0 and rel < 4 and text.startswith(">"):
            # A quote outside lists: its lines are read again, without their "> ", for the lists in it.
            if popped is not None and prev != "blank":
                out.append("")
            quoted = [text]
            while i < len(lines) and _quoted(lines[i]):
                quoted.append(lines[i].lstrip(" "))
                i += 1
            inside = _rewrite([_QUOTE.sub("", q, count=1) for q in quoted], in_quote=True)
            out.extend(f"> {q}" if q else ">" for q in inside)
            prev = "other"
            following = lines[i].lstrip(" ") if i < len(lines) and _indent(lines[i]) < 4 else ""
            if following and _ends_paragraph(following):
                # A break, fence, heading or HTML ends the quote (it is no lazy line); without a
                # blank line, Python-Markdown read `> a` over `---` as a heading, a fence as quoted.
                out.append("")
                prev = "blank"
            elif _UNDERLINE.match(following):
                lines[i] = "\\" + following  # a lazy line, `> a` over `==`: no heading underline
            continue

        if marker is not None and rel < 4:
            ordered = marker.group(2) is not None
            rest = text[marker.end() :]
            spaces = len(marker.group(3))
            content = n + len(marker.group(1)) + (spaces if 0 < spaces <= 4 else 1)
            # A list that interrupts a paragraph must start with "1." or a bullet, and have text;
            # right under an item's own first line it needs no blank line before it either.
            interrupts = prev == "para" and para_depth == depth
            if not rest and i < len(lines) and lines[i].strip():
                following = lines[i]
                if _indent(following) >= content and not interrupts:
                    rest = following.strip()  # an item whose text starts on the next line
                    i += 1
            if not (interrupts and ((ordered and int(marker.group(2)) != 1) or not rest)):
                new_list = (interrupts and not para_first) or (popped is not None and popped.ordered != ordered)
                left_block = not block_marker and block_depth > depth
                if new_list or left_block or prev == "other":
                    out.append("")  # Python-Markdown starts a list only after a blank line
                    block, block_depth, block_marker = block + 1, depth, True
                head = " " * (4 * depth) + (f"{marker.group(2)}." if ordered else marker.group(1)) + " "
                stack.append(_Item(content, ordered, block))
                prev, para_depth, para_first = ("para" if rest else "item"), depth + 1, True
                if fenced := _FENCE.match(rest.lstrip(" ")):
                    # A code block opened on the marker line: Python-Markdown reads it only on a line
                    # of its own, just past the margin (see the first block, below).
                    out.extend([head, " " * (4 * depth + 1) + _opening(rest.lstrip(" "))])
                    verbatim = _Verbatim(fenced.group(1), content, 4 * depth + 1, content, True)
                    prev = "inner"
                else:
                    out.append(head + rest.lstrip(" "))
                continue
            # CommonMark: only "-" or "1." with text after it can interrupt a paragraph: this is text
            if ordered:  # "2016\. …": inside a list, Python-Markdown would read an item of it
                text = marker.group(2) + "\\" + text[len(marker.group(2)) :]
                line = " " * n + text

        if popped is not None and prev != "blank":
            out.append("")  # the line ends a list (it is no lazy continuation)
            block, block_depth, block_marker = block + 1, depth, False
        fenced = _FENCE.match(text) if rel < 4 and not plain else None
        if fenced:
            text = _opening(text)
            line = " " * n + text
        html = _html_start(text, prev == "para") if rel < 4 and text[0] == "<" else False
        inner = bool(stack) and stack[-1].block == block
        if depth == 0:
            if fenced and prev == "para":
                out.append("")  # CommonMark: a fence interrupts a paragraph; SuperFences wants a blank line
                block += 1
            out.append(line)  # outside lists, nothing moves
            margin = -1
        else:
            if inner and (atx or html is not False):
                out.append("")  # a heading or HTML never splits an item's text: it needs a block of its own
                block, inner = block + 1, False
            if inner:
                # A line of the block its item's marker line opened: Python-Markdown appends it to
                # the item's text, so it sits just past the level's margin, where a quote or a fence
                # is still one (right at the margin, a fence would be read as inline code and any
                # "#" line as a heading; a "===" or "---" at all would make the item a heading).
                margin = 4 * (depth - 1) + (4 if text.startswith("=") or brk else 1)
            else:
                margin = 4 * depth + (0 if fenced else rel)
            out.append(" " * margin + text)
        within = stack[-1].content if stack else 0
        if fenced:
            verbatim = _Verbatim(fenced.group(1), n, margin, within, inner)
        elif html is not False and not (html.search(text, 2) if html is not None else _closes_itself(text)):
            verbatim = _Verbatim(html, n, margin, within, inner)
            if html is None and margin < 0 and not in_quote:  # md_in_html reads no HTML in quotes
                verbatim.unclosed = []
                _follow_tags(verbatim.unclosed, len(out) - 1, out[-1])
        if fenced or text.startswith(">"):
            prev = "inner" if inner else "other"
        elif (rel >= 4 and not lazy) or html is not False or atx or brk:
            prev = "other"  # a heading, thematic break, indented code or raw HTML
            if brk and depth == 0 and i < len(lines) and lines[i].strip():
                out.append("")  # what follows a break is a new block (`___` over `---` was a heading)
                prev = "blank"
        else:
            if not (prev == "para" and para_depth == depth):
                para_depth, para_first = depth, False
            prev = "para"
    if verbatim is not None and verbatim.closer:
        out.append(verbatim.closer)  # CommonMark: a fence never closed runs to the end
    return out


class CommonMarkListsExtension(Extension):
    """Register after Hugo shortcodes (29) and before fenced code is stashed (25)."""

    def extendMarkdown(self, md: Markdown) -> None:
        md.preprocessors.register(_ListLines(md), "commonmark_lists", 28)
