"""Block quotes as CommonMark (Hugo's Goldmark) reads them: a blank line ends a quote.

Python-Markdown keeps Markdown.pl's rule, which joins `> a`, a blank line and `> b` into one
quote of two paragraphs; on the blog's page they are two quotes, and an email or a feed item
should show the same.
"""

from __future__ import annotations

from typing import Any

from markdown import Markdown
from markdown.blockprocessors import BlockQuoteProcessor
from markdown.extensions import Extension


class _QuoteProcessor(BlockQuoteProcessor):
    def lastChild(self, parent: Any) -> None:
        return None  # the base class asks only to continue the quote before a blank line


class CommonMarkQuotesExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        md.parser.blockprocessors.register(_QuoteProcessor(md.parser), "quote", 20)
