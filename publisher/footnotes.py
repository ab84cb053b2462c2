"""Footnotes numbered, named and left out as Hugo's Goldmark does it.

Python-Markdown's footnotes extension names anchors after the label (`#fn:label`), and lists
every definition, referred to or not. Goldmark numbers notes in the order the text refers to
them, names anchors by number (`#fn:1`, `#fnref:1`, `#fnref1:1` for a second reference) and
leaves out a note nothing refers to. A feed item or an email makes anchors absolute against the
post's URL, so they must be the blog page's own: a subscriber who follows a footnote link
lands on that note of the page.
"""

from __future__ import annotations

import re
from typing import Any

from markdown import Markdown
from markdown.extensions.footnotes import FootnoteExtension
from markdown.treeprocessors import Treeprocessor

_ANCHOR = re.compile(r"(#?)fn(ref(\d*))?:(.*)", re.DOTALL)  # fn:label, fnref:label, fnref2:label


class GoldmarkFootnotesExtension(FootnoteExtension):
    def __init__(self, **kwargs: Any) -> None:
        # ↩ with U+FE0E, as Goldmark writes it: without the selector iOS shows an emoji
        super().__init__(USE_DEFINITION_ORDER=False, BACKLINK_TEXT="&#8617;&#65038;", **kwargs)

    def extendMarkdown(self, md: Markdown) -> None:
        super().extendMarkdown(md)
        # References are known only after the inline step (20); the notes are then already in
        # reference order (footnote-reorder, 19) and repeated references linked
        # (footnote-duplicate, 15, which finds the list by Python-Markdown's names).
        md.treeprocessors.register(_GoldmarkNames(self), "footnote-goldmark", 14)


class _GoldmarkNames(Treeprocessor):
    def __init__(self, footnotes: GoldmarkFootnotesExtension) -> None:
        self.footnotes = footnotes

    def run(self, root: Any) -> None:
        if not self.footnotes.footnotes:
            return  # most posts: no notes, nothing to rename
        numbers: dict[str, str] = {}

        def number(el: Any, attribute: str) -> bool:
            """Renames a label-named anchor by its number; False if nothing refers to the note."""
            m = _ANCHOR.fullmatch(el.get(attribute, ""))
            if not m or m.group(4) not in numbers:
                return False
            repeat = m.group(3) and str(int(m.group(3)) - 1)  # 2nd reference: fnref2 here, fnref1 there
            kind = f"ref{repeat}" if m.group(2) is not None else ""
            el.set(attribute, f"{m.group(1)}fn{kind}:{numbers[m.group(4)]}")
            return True

        # Numbered in reading order: Python-Markdown's footnote_order is the order its inline
        # step reached the references, which visits a list item's text after the paragraphs
        # around the list.
        for sup in root.iter("sup"):
            ref = sup[0] if len(sup) and sup[0].get("class") == "footnote-ref" else None
            m = _ANCHOR.fullmatch(ref.get("href", "")) if ref is not None else None
            if m and m.group(4) in self.footnotes.footnotes:
                ref.text = numbers.setdefault(m.group(4), str(len(numbers) + 1))
                ref.attrib.pop("title", None)
                number(ref, "href")
                number(sup, "id")

        for parent in root.iter():
            for div in list(parent):
                if div.tag != "div" or div.get("class") != "footnote":
                    continue
                div.set("class", "footnotes")
                ol = div.find("ol")
                ol[:] = sorted((li for li in ol if number(li, "id")), key=lambda li: int(li.get("id")[3:]))
                for li in ol:  # (a note nothing refers to is left out)
                    backrefs = [a for a in li.iter("a") if a.get("class") == "footnote-backref"]
                    for a in backrefs:
                        a.attrib.pop("title", None)  # English ("Jump back to footnote 1…"); Goldmark has none
                        number(a, "href")
                    for a in backrefs[:-1]:
                        a.tail = "\xa0" + (a.tail or "")  # ↩︎ ↩︎ for a note referred to twice
                if not len(ol):
                    parent.remove(div)
                return
