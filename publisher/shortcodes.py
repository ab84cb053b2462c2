"""Hugo shortcodes in post bodies (`{{< name args >}}`, `{{% name args %}}`) for feeds and email.

Hugo renders them with the blog's Go templates. Here each is a Jinja template,
`shortcodes/<name>.html` (the operator's templates folder first), so an operator shapes them
like any other template. The built-in ones cover Hugo's own shortcodes, made for feed readers
and email clients, which drop iframes and scripts: a video becomes a linked thumbnail, a post
on a social site a link. `ref`, `relref` and `param` need the site and the page, so they are
resolved here. A shortcode with no template is left out and its inner content kept.

As in Hugo: `{{< >}}` output is HTML and bypasses Markdown, `{{% %}}` output is Markdown;
`{{</* x */>}}` writes `{{< x >}}` literally; shortcodes are expanded before any other
Markdown processing, code blocks included.
"""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from publisher.config import Languages
from publisher.posts import ENGLISH, page_name

_OPEN = re.compile(r"\{\{([<%])")
_ARG = re.compile(r'\s*(?:([\w-]+)\s*=\s*)?("(?:[^"\\]|\\.)*"|`[^`]*`|[^\s"`]+)', re.DOTALL)
_NAME = re.compile(r"[\w./-]+")
_RESOLVED_HERE = ("ref", "relref", "param")


class RefNotFound(Exception):
    """A ref/relref names no post: the post is rejected, as Hugo refuses to build it."""


class SiteNeeded(Exception):
    """A ref/relref met where no site index is at hand (a helper process): render it elsewhere."""


@dataclass
class Tag:
    """One `{{< … >}}` or `{{% … %}}` as written."""

    name: str
    form: str  # "<" (HTML output) or "%" (Markdown output)
    args: list[str] = field(default_factory=list)
    kwargs: dict[str, str] = field(default_factory=dict)
    closing: bool = False
    self_closing: bool = False
    start: int = 0
    end: int = 0  # just past the closing delimiter


def parse_tag(text: str, start: int) -> Tag | None:
    """The shortcode tag at text[start:] (which begins with `{{<` or `{{%`), or None if it is not one."""
    form = text[start + 2]
    close = ">}}" if form == "<" else "%}}"
    pos = start + 3
    tag = Tag(name="", form=form, start=start)
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if text.startswith(close, pos) or text.startswith("/" + close, pos):
            tag.self_closing = text[pos] == "/"
            tag.end = pos + len(close) + tag.self_closing
            return tag if tag.name else None
        if not tag.name:
            if text.startswith("/", pos):
                tag.closing = True
                pos += 1
                continue
            m = _NAME.match(text, pos)
            if m is None:
                return None
            tag.name, pos = m.group(), m.end()
            continue
        m = _ARG.match(text, pos)
        if m is None or m.end() == pos:
            return None
        key, value = m.group(1), _unquote(m.group(2))
        if key is not None:
            tag.kwargs[key] = value
        else:
            tag.args.append(value)
        pos = m.end()


def _unquote(token: str) -> str:
    if token.startswith('"'):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    if token.startswith("`"):
        return token[1:-1]
    return token


class Refs:
    """Finds the post a `ref`/`relref` names, Hugo's ways: a path from content_dir, a path
    from the referring post's folder, or (when only one post has it) a file or bundle name."""

    def __init__(self, posts: Iterable[Any], languages: Languages = ENGLISH):
        """`posts`: the site's index entries (anything with relpath and url); read on first use.
        `languages`: the Hugo site's, so `hello.md` also names this language's `hello.zh-cn.md`,
        as a ref does in Hugo."""
        self.posts = posts
        self.languages = languages
        self.by_path: dict[str, str] | None = None
        self.by_name: dict[str, str] = {}

    def _build(self) -> dict[str, str]:
        by_path: dict[str, str] = {}
        names: dict[str, list[str]] = {}
        for entry in self.posts:
            relpath, url = entry.relpath, entry.url
            folder, _, file = relpath.rpartition("/")
            page = page_name(file, self.languages)
            stem, suffix = file[: file.rfind(".")], file[file.rfind(".") :]
            if page is not None and page[0] != stem:  # name.<key>.md: the site holds one language,
                file = page[0] + suffix  # so refs leave the key out
                relpath = f"{folder}/{file}" if folder else file
                by_path[entry.relpath] = url
            bundle = bool(folder) and file.rsplit(".", 1)[0] == "index"  # a leaf bundle: named by its folder
            for key in (relpath, relpath.rsplit(".", 1)[0], *([folder] if bundle else [])):
                by_path[key] = url
            name = folder.rsplit("/", 1)[-1] if bundle else file
            for key in {name, name.rsplit(".", 1)[0]}:
                names.setdefault(key, []).append(url)
        self.by_name = {name: urls[0] for name, urls in names.items() if len(set(urls)) == 1}
        return by_path

    def resolve(self, ref: str, from_relpath: str) -> str:
        if self.by_path is None:
            self.by_path = self._build()
        path, _, anchor = ref.partition("#")
        path = path.strip().rstrip("/")
        url = None
        if not path:  # "#anchor": this page
            url = self.by_path.get(from_relpath)
        elif path.startswith("/"):
            url = self.by_path.get(path.lstrip("/"))
        else:
            here = posixpath.dirname(from_relpath)
            url = self.by_path.get(posixpath.normpath(posixpath.join(here, path))) or self.by_path.get(path)
            url = url or self.by_name.get(path)
        if url is None:
            raise RefNotFound(ref)
        return url + ("#" + anchor if anchor else "")


class Expander:
    """Expands one post body's shortcodes. `render(name, context)` renders a shortcode template
    (None when there is none); `stash(html)` hides HTML from Markdown and returns a placeholder."""

    def __init__(
        self,
        render: Callable[[str, dict[str, Any]], str | None],
        stash: Callable[[str], str],
        page: Any,
        refs: Refs | None,
    ):
        self.render, self.stash, self.page, self.refs = render, stash, page, refs
        self.resolved: list[tuple[str, str]] = []  # (ref as written, URL): the cache checks these later
        self.unknown: list[str] = []  # shortcodes without a template, for the operator's warning

    def expand(self, text: str, as_html: bool = False) -> str:
        """`text` with every shortcode replaced: by a stash placeholder for HTML output, or (inside
        an HTML shortcode's inner content, `as_html=True`) by the HTML itself."""
        if "{{" not in text:
            return text
        out: list[str] = []
        pos = 0
        while (m := _OPEN.search(text, pos)) is not None:
            out.append(text[pos : m.start()])
            form = m.group(1)
            if text.startswith("/*", m.end()):  # {{</* x */>}}: written out as is, without the comment marks
                end = text.find("*/" + (">" if form == "<" else "%") + "}}", m.end())
                if end != -1:
                    out.append("{{" + form + text[m.end() + 2 : end] + text[end + 2 : end + 5])
                    pos = end + 5
                    continue
            tag = parse_tag(text, m.start())
            if tag is None:
                out.append(m.group())
                pos = m.end()
                continue
            if tag.closing:  # a stray closing tag: dropped
                pos = tag.end
                continue
            inner, pos = self._inner(text, tag)
            out.append(self._output(tag, inner, as_html))
        out.append(text[pos:])
        return "".join(out)

    def _inner(self, text: str, tag: Tag) -> tuple[str | None, int]:
        """The content up to the matching closing tag, and where to go on; (None, end) if unpaired."""
        if tag.self_closing or tag.name in _RESOLVED_HERE:
            return None, tag.end
        depth, pos = 1, tag.end
        while (m := _OPEN.search(text, pos)) is not None:
            other = parse_tag(text, m.start())
            if other is None:
                pos = m.end()
                continue
            if other.name == tag.name and not other.self_closing:
                depth += -1 if other.closing else 1
                if depth == 0:
                    return text[tag.end : other.start], other.end
            pos = other.end
        return None, tag.end

    def _output(self, tag: Tag, inner: str | None, as_html: bool) -> str:
        if tag.name in _RESOLVED_HERE:
            return self._resolve(tag)
        markdown_output = tag.form == "%"
        if inner is not None:
            inner = self.expand(inner, as_html=not markdown_output)
        context = {
            "shortcode": tag.name,
            "args": tag.args,
            "kwargs": tag.kwargs,
            "get": lambda key, index=None, default="": _get(tag, key, index, default),
            "inner": inner if inner is not None else "",
            "paired": inner is not None,
            "page": self.page,
        }
        out = self.render(tag.name, context)
        if out is None:  # no template: the inner content stays, the shortcode goes
            if tag.name not in self.unknown:
                self.unknown.append(tag.name)
            return inner or ""
        if markdown_output:
            return out
        return out if as_html else self.stash(out)

    def _resolve(self, tag: Tag) -> str:
        first = tag.args[0] if tag.args else tag.kwargs.get("path", "")
        if tag.name == "param":
            value = self.page.params.get(first.lower(), "") if first else ""
            return html.escape("" if value is None else str(value), quote=False)  # text, never markup
        if self.refs is None:
            raise SiteNeeded(first)
        url = self.refs.resolve(first, self.page.relpath)
        self.resolved.append((first, url))
        return url


def _get(tag: Tag, key: str, index: int | None, default: str) -> str:
    """Hugo's `.Get`: a named argument, else the positional one at `index`."""
    if key in tag.kwargs:
        return tag.kwargs[key]
    if index is not None and index < len(tag.args):
        return tag.args[index]
    return default
