"""Lists read the way CommonMark (Hugo's Goldmark) reads them, for Python-Markdown.

Python-Markdown keeps Markdown.pl's rules for lists, and three of them wreck the lists of a blog
written for Hugo:
- a list must follow a blank line, so "重點如下：" with "- 一" and "- 二" on the next lines
  is one paragraph with dashes in it (the sample posts' source links do this);
- whatever is inside a list item is indented by 4 spaces, so a list nested by 2 spaces (or an
  ordered one by 3), and a second paragraph or a code block under an item, fall out of the
  item, and the next item can end up inside a paragraph;
- "1. a" then "- b" continues the ordered list.

CommonMark decides by an item's content column: where the text after its marker starts. This
preprocessor rewrites the source into Python-Markdown's dialect before the parser sees it:
every line inside an item moves from that item's content column to 4 spaces per level, and a
blank line goes where CommonMark starts or ends a list and Python-Markdown would not.

Not the libraries that exist for it: mdx_truly_sane_lists (2-space nesting) makes 4-space and
tab nesting flat, and mdx_breakless_lists also adds blank lines inside code blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown import Markdown
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor

_MARKER = re.compile(r"([*+-]|(\d{1,9})\.)( +|$)")
_BREAK = re.compile(r"([-*_])( *\1){2,} *$")  # a thematic break, never an item ("- - -")
_FENCE = re.compile(r"(`{3,}|~{3,})")
_HTML = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(\s|/?>|$)|<!--")
_BLOCK_START = ("#", ">", "```", "~~~")  # these end a paragraph: never its lazy continuation


@dataclass
class _Item:
    content: int  # the source column where the item's content starts
    ordered: bool
    block: int  # the block (lines between blank lines) its marker line is in


@dataclass
class _Fence:
    mark: str  # the opening run of backticks or tildes
    strip: int  # source columns taken off each line (its item's content column and its own indent)
    margin: int  # where its lines go (-1: outside lists, where nothing moves)
    inner: bool  # in the first block of an item (see `_rewrite`)
    within: int  # its item's content column: a line left of it ends the item and the code block


class _ListLines(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        return _rewrite(lines)


def _rewrite(lines: list[str]) -> list[str]:
    """The lines with every list item's content at 4 spaces per level, and blank lines added
    where CommonMark starts or ends a list. Python-Markdown splits blocks at blank lines only;
    in a block that a list item's marker line opens, it appends the lines to the item's text as
    they are (a quote or a fence there must sit at the level's margin), and a block that starts
    indented is the previous item's (so a following item needs a blank line before it)."""
    out: list[str] = []
    stack: list[_Item] = []
    fence: _Fence | None = None
    in_html = False  # a raw HTML block at the top level: passed through as it is
    # The previous line: "blank", "para" (paragraph text), "item" (an empty item's marker),
    # "inner" (a quote or fence line in an item's first block), "other" (any other block).
    prev = "blank"
    para_depth, para_first = 0, False  # the open paragraph's list depth; whether a marker line began it
    block, block_depth, block_marker = 0, 0, False  # the current block; its first line's depth and kind
    for line in lines:
        n = len(line) - len(line.lstrip(" "))
        text = line[n:]
        if not text:
            out.append("")
            prev, in_html = "blank", False
            continue
        if prev == "blank":
            block, block_depth, block_marker = block + 1, -1, False  # set by this line, below
        if fence is not None:
            if n < fence.within:
                fence = None  # its item ended, and the code block with it
            else:
                closing = text.startswith(fence.mark) and not text.rstrip().strip(fence.mark[0])
                if fence.margin >= 0:
                    line = " " * (fence.margin + max(0, n - fence.strip)) + text
                out.append(line)
                if closing:
                    fence, prev = None, "inner" if fence.inner else "other"
                continue
        if in_html:
            out.append(line)
            continue

        marker = None if _BREAK.match(text) else _MARKER.match(text)
        lazy = prev == "para" and not text.startswith(_BLOCK_START)
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

        if marker is not None and rel < 4:
            ordered = marker.group(2) is not None
            rest = text[marker.end() :]
            interrupts = prev == "para" and para_depth == depth and not para_first
            if not (interrupts and ((ordered and int(marker.group(2)) != 1) or not rest)):
                new_list = interrupts or (popped is not None and popped.ordered != ordered)
                left_block = not block_marker and block_depth > depth
                if new_list or left_block or prev == "other":
                    out.append("")  # Python-Markdown starts a list only after a blank line
                    block, block_depth, block_marker = block + 1, depth, True
                spaces = len(marker.group(3))
                stack.append(_Item(n + len(marker.group(1)) + (spaces if 0 < spaces <= 4 else 1), ordered, block))
                out.append(" " * (4 * depth) + marker.group(1) + " " + rest.lstrip(" "))
                prev, para_depth, para_first = ("para" if rest else "item"), depth + 1, True
                continue
            # CommonMark: only "-" or "1." with text after it can interrupt a paragraph: this is text

        if popped is not None and prev != "blank":
            out.append("")  # the line ends a list (it is no lazy continuation)
            block, block_depth, block_marker = block + 1, depth, False
        fenced = _FENCE.match(text) if rel < 4 else None
        if depth == 0:
            if _HTML.match(text) and prev in ("blank", "other"):
                in_html = True
            out.append(line)  # outside lists, nothing moves
            inner = False
        else:
            inner = stack[-1].block == block
            if inner and text.startswith("#"):
                out.append("")  # a heading never splits an item's text: it needs a block of its own
                block, inner = block + 1, False
            # (In an item's first block, a fence right at the margin would be read as inline code.)
            margin = 4 * (depth - 1) + (1 if fenced else min(rel, 3)) if inner else 4 * depth + (0 if fenced else rel)
            out.append(" " * margin + text)
            if fenced:
                fence = _Fence(fenced.group(1), n, margin, inner, stack[-1].content)
        if fenced and depth == 0:
            fence = _Fence(fenced.group(1), 0, -1, False, 0)
        if fenced or text.startswith(">"):
            prev = "inner" if inner else "other"
        elif text.startswith("#") or _BREAK.match(text) or (rel >= 4 and not lazy) or in_html:
            prev = "other"  # a heading, thematic break, indented code or raw HTML
        else:
            if not (prev == "para" and para_depth == depth):
                para_depth, para_first = depth, False
            prev = "para"
    return out


class CommonMarkListsExtension(Extension):
    """Register after Hugo shortcodes (29) and before fenced code is stashed (25)."""

    def extendMarkdown(self, md: Markdown) -> None:
        md.preprocessors.register(_ListLines(md), "commonmark_lists", 28)
