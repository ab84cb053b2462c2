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
"""

from __future__ import annotations

import re
import string
from typing import Any

from markdown import Markdown
from markdown.blockprocessors import BlockQuoteProcessor, HashHeaderProcessor
from markdown.extensions import Extension
from markdown.inlinepatterns import SubstituteTagInlineProcessor


class _QuoteProcessor(BlockQuoteProcessor):
    def lastChild(self, parent: Any) -> None:
        return None  # the base class asks only to continue the quote before a blank line


class _HeadingProcessor(HashHeaderProcessor):
    RE = re.compile(
        r"(?:^|\n)[ ]{0,3}(?P<level>#{1,6})"
        r"(?P<header>(?:[ \t]+(?:\\.|[^\\\n])*?)??)"  # text only after a space or a tab (stripped)
        r"(?:[ \t]+#+)?[ \t]*(?:\n|$)"  # a closing run of #s only after a space
    )


class CommonMarkExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        md.parser.blockprocessors.register(_QuoteProcessor(md.parser), "quote", 20)
        md.parser.blockprocessors.register(_HeadingProcessor(md.parser), "hashheader", 70)
        md.ESCAPED_CHARS = [*md.ESCAPED_CHARS, *(c for c in string.punctuation if c not in md.ESCAPED_CHARS)]
        # before `escape` (180), which would keep the backslash of a backslash and a newline
        md.inlinePatterns.register(SubstituteTagInlineProcessor(r"\\\n", "br"), "backslash-break", 185)
