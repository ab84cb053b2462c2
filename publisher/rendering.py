"""Markdown and Jinja: the only importers of markdown, jinja2 and lxml.html.

Those imports cost a tenth of a second, so they happen when a Renderer is first built:
a rebuild that finds nothing to render never pays for them.

One Jinja Environment (autoescaped HTML, StrictUndefined) and one Markdown converter per
build. Every URL in rendered HTML is made absolute against the post's URL, because feed
readers and email clients have no base URL.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from publisher import __version__, shortcodes
from publisher.config import Config
from publisher.errors import PostError, Problem, TemplateError
from publisher.models import Post, RenderedPost

BUILTIN_TEMPLATES = next(
    p for p in (Path(__file__).parent / "templates", Path(__file__).parent.parent / "templates") if p.is_dir()
)


# Python-Markdown's `extra` set (tables, footnotes, attribute lists, definition lists,
# abbreviations, Markdown in HTML), sane lists read as CommonMark reads them (commonmark_lists:
# a list right after a paragraph, nesting by 2 spaces), and two pymdown-extensions for what Hugo's
# Goldmark does: superfences (fenced code, also inside list items and blockquotes, where
# Python-Markdown's own fenced_code gives up and prints the language as inline code), without
# Pygments (its <span>s need a stylesheet feed readers and mail clients don't have), and
# `~~strikethrough~~`. Not `toc`: heading ids serve a web page, not a feed item or an email,
# and cost ~10% of the render time. Not Goldmark's other defaults: smarty curls a quote after
# a CJK character the wrong way (Hugo leaves it straight), magiclink swallows full-width
# punctuation (，。）) into a bare URL, and a task list's <input> is stripped by feed readers
# and mail clients, taking the checked state with it (the literal "[x]" survives).
def _markdown_extensions(emoji: bool = False) -> list[Any]:
    """As instances: given their names, Python-Markdown first scans every installed
    package's entry points (importlib.metadata), ~40 ms of every process that renders.
    `emoji` is Hugo's enableEmoji: GitHub's :shortcodes: become the characters themselves."""
    from markdown.extensions import abbr, attr_list, def_list, md_in_html, sane_lists, tables
    from pymdownx.highlight import HighlightExtension
    from pymdownx.superfences import SuperFencesCodeExtension
    from pymdownx.tilde import DeleteSubExtension

    from publisher.commonmark import CommonMarkExtension
    from publisher.commonmark_lists import CommonMarkListsExtension
    from publisher.footnotes import GoldmarkFootnotesExtension

    extensions = [
        HighlightExtension(use_pygments=False),  # superfences' code block markup: <pre><code class="language-x">
        SuperFencesCodeExtension(),
        GoldmarkFootnotesExtension(),  # numbered in reference order, as on the blog page
        attr_list.AttrListExtension(),
        def_list.DefListExtension(),
        tables.TableExtension(),
        abbr.AbbrExtension(),
        md_in_html.MarkdownInHtmlExtension(),
        sane_lists.SaneListExtension(),
        DeleteSubExtension(subscript=False),  # ~~struck~~ only: Goldmark has no ~subscript~
        CommonMarkListsExtension(),  # lists as Goldmark reads them: after a paragraph, nested by 2
        CommonMarkExtension(),  # quotes, headings, escapes and line breaks as Goldmark reads them
    ]
    if emoji:
        from pymdownx.emoji import EmojiExtension, gemoji, to_alt

        extensions.append(EmojiExtension(emoji_index=gemoji, emoji_generator=to_alt))  # no <img>: the character
    return extensions


def _new_markdown(emoji: bool) -> Any:
    """A converter with our extensions. superfences registers pymdownx.highlight by name, and a
    name makes Python-Markdown scan every installed package's entry points first (about 8 ms,
    a tenth of a rebuild's set-up); no package registers a pymdownx name, so the module is
    loaded directly, as Python-Markdown itself does once the scan finds nothing."""
    import markdown

    class Markdown(markdown.Markdown):
        def build_extension(self, ext_name: str, configs: Any) -> Any:
            if ext_name.startswith("pymdownx."):
                return importlib.import_module(ext_name).makeExtension(**configs)
            return super().build_extension(ext_name, configs)

    return Markdown(extensions=_markdown_extensions(emoji))


def template_dirs(config: Config) -> list[Path]:
    """Where templates are looked up: the operator's folder first, then the built-in one."""
    return [d for d in (config.templates_dir, BUILTIN_TEMPLATES) if d is not None]


_OUTPUT_CODE = (  # the modules whose code shapes what a post renders to
    "rendering.py",
    "commonmark_lists.py",
    "commonmark.py",
    "footnotes.py",
    "shortcodes.py",
    "feeds.py",
)


def fingerprint(config: Config) -> str:
    """Changes whenever anything that shapes rendered output changes: templates, settings, code."""
    h = hashlib.sha256(f"{__version__}|{config.settings!r}".encode())
    # code changes without a version bump, too
    for module in _OUTPUT_CODE:
        h.update((Path(__file__).parent / module).read_bytes())
    for library in ("markdown", "pymdownx", "feedgen", "jinja2"):  # an upgrade rewrites their files
        spec = importlib.util.find_spec(library)
        if spec is not None and spec.origin:
            st = os.stat(spec.origin)
            h.update(f"{library}:{st.st_size}:{st.st_mtime_ns}".encode())
    for d in template_dirs(config):
        for path in sorted(d.rglob("*")):
            if path.is_file():
                h.update(path.relative_to(d).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:32]


MORE = "<!--more-->"
_PROSE = {"p", "ul", "ol", "blockquote", "dl"}  # what a summary quotes: not code, tables, footnotes
_BLOCKS = {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "tr", "br", "dt", "dd", "table"}


class Renderer:
    """Turns posts into HTML; build one per config and reuse it (the converter is costly)."""

    def __init__(self, config: Config):
        import jinja2

        self.config = config
        self.template_dirs = [str(d) for d in template_dirs(config)]
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.template_dirs),
            autoescape=jinja2.select_autoescape(["html", "htm", "xml"]),
            undefined=jinja2.StrictUndefined,
            extensions=["jinja2.ext.i18n"],
        )
        self.translations = translations(config.settings.language)
        self.env.install_gettext_translations(self.translations, newstyle=True)  # type: ignore[attr-defined]
        self.md = _new_markdown(config.emoji)
        self.shortcodes = _ShortcodeStep(self.md)
        self.md.preprocessors.register(self.shortcodes, "hugo_shortcodes", 29)  # after whitespace clean-up (30)
        self.env.filters["markdownify"] = self._markdownify
        self._inner_md: Any = None  # built on the first markdownify
        self.refs: shortcodes.Refs | None = None  # the site's posts, for ref/relref shortcodes

    def markdown_html(self, body: str, base: str, page: Post | None = None) -> str:
        """Markdown (raw HTML kept) to HTML whose links and images are all absolute; with
        `page`, Hugo shortcodes in it are expanded too (see shortcodes)."""
        return self._convert(body, base, page)[0]

    def _convert(self, body: str, base: str, page: Post | None) -> tuple[str, shortcodes.Expander | None]:
        self.md.reset()
        expander = shortcodes.Expander(self._shortcode, self.md.htmlStash.store, page, self.refs) if page else None
        self.shortcodes.expander = expander
        try:
            html = self.md.convert(body.replace(MORE, "", 1))  # Hugo drops the summary divider too
        except shortcodes.RefNotFound as exc:
            assert page is not None
            raise _ref_error(page, str(exc)) from None
        finally:
            self.shortcodes.expander = None
        return absolutize(html, base), expander

    def _shortcode(self, name: str, context: dict[str, Any]) -> str | None:
        """A shortcode's template output; None when there is no template for it."""
        import jinja2

        if name.endswith(".inline"):  # Hugo's inline shortcodes are Go template code: nothing to show
            return ""
        try:
            self.env.get_template(f"shortcodes/{name}.html")
        except jinja2.TemplateNotFound:
            return None
        except jinja2.TemplateSyntaxError:
            pass  # render() reports it with file and line
        return self.render(f"shortcodes/{name}.html", **context, site=self.site())

    def _markdownify(self, text: str) -> Any:
        """Jinja filter (Hugo's `markdownify`): Markdown to HTML, for a shortcode's inner content."""
        from markupsafe import Markup

        if self._inner_md is None:  # a second converter: the first is mid-way through the post
            self._inner_md = _new_markdown(self.config.emoji)
        self._inner_md.reset()
        html = self._inner_md.convert(str(text)).strip()
        if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
            html = html[3:-4]  # one paragraph: inline, as Hugo's markdownify gives it
        return Markup(html)

    def render_post(self, post: Post, body: str) -> RenderedPost:
        """The feed item: the post body through `feed_item.html`, plus its summary."""
        html, expander = self._convert(body, post.url, post)
        assert expander is not None
        summary, _ = self.teaser(post, body, html)
        from markupsafe import Markup

        item = self.render("feed_item.html", post=post, content=Markup(html), summary=summary, site=self.site())
        return RenderedPost(
            post=post,
            html=item,
            summary=summary,
            refs=tuple(expander.resolved),
            unknown_shortcodes=tuple(expander.unknown),
        )

    def teaser(self, post: Post, body: str, html: str) -> tuple[str, str]:
        """A post's summary as (plain text, HTML): its description, else what comes before
        <!--more-->, else the opening prose cut at `summary_length`; the title when none of
        these has text (a post of only code or headings), since an RSS item without a
        description gets its content there and loses content:encoded. `html` is the rendered body."""
        from html import escape

        if post.description:
            return post.description, f"<p>{escape(post.description)}</p>"
        if MORE in body:
            before = self.markdown_html(body.split(MORE, 1)[0], post.url, post)
            text = text_summary(before, 10**9)
            if text:
                return text, before
        text = text_summary(html, self.config.summary_length) or post.title
        return text, f"<p>{escape(text)}</p>"

    def email(self, posts: list[tuple[Post, str]], subject: str, unsubscribe_url: str) -> tuple[str, str]:
        """The newsletter's HTML (CSS inlined) and plain-text bodies for one or more posts.

        `posts` pairs each post with its Markdown body; `unsubscribe_url` is usually a
        placeholder that each copy replaces with its recipient's own link.
        """
        import css_inline

        full = self.config.settings.newsletter.full_content
        items = []
        for post, body in posts:
            html = self.markdown_html(body, post.url, post)
            if not full:
                html = self.teaser(post, body, html)[1]
            items.append(
                {
                    "title": post.title,
                    "url": post.url,
                    "date": format_date(post.date, self.config),
                    "html": _markup(html),
                    "text": html_to_text(html),
                    "source_url": post.source_url,
                    "source_name": post.source_name,
                    "post": post,
                }
            )
        context = {
            "site": self.site(),
            "posts": items,
            "full_content": full,
            "subject": subject,
            "unsubscribe_url": unsubscribe_url,
        }
        html = css_inline.inline(self.render("email.html", **context))
        text = self.render("email.txt", **context).strip() + "\n"
        return html, text

    def confirmation(self, confirm_url: str, hours: int) -> tuple[str, str, str]:
        """Subject, HTML and text of the double opt-in email."""
        import css_inline

        context = {"site": self.site(), "confirm_url": confirm_url, "hours": hours}
        subject = self.render("confirm_subject.txt", **context).strip()
        html = css_inline.inline(self.render("confirm_email.html", **context))
        return subject, html, self.render("confirm_email.txt", **context).strip() + "\n"

    def gettext(self, message: str, **values: Any) -> str:
        """A translated message from code (pages of `publisher serve`), %-formatted like Jinja's."""
        text = self.translations.gettext(message)
        return text % values if values else text

    def site(self) -> dict[str, Any]:
        s = self.config.settings
        return {
            "title": s.title,
            "description": s.description,
            "base_url": self.config.base_url,
            "language": s.language,
        }

    def preload(self, *names: str) -> None:
        """Compile templates ahead of use (before forking workers, so each doesn't compile
        its own copy). Errors are left for `render` to report where the template is used."""
        for name in names:
            try:
                self.env.get_template(name)
            except Exception:
                continue

    def compile_all(self) -> None:
        """Compile every template (feed items, emails, web pages), so `publisher check` finds a
        broken one before a send or a page needs it: one TemplateError listing each."""
        import jinja2

        errors = []
        names = self.env.list_templates(extensions=["html", "htm", "txt", "xml", "j2"])
        for name in names:
            try:
                self.env.get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                errors.append(f"{exc.filename or name}:{exc.lineno}: {exc.message}")
        if errors:
            raise TemplateError("\n".join(errors))

    def render(self, name: str, **context: Any) -> str:
        """Render a template; a broken one becomes a TemplateError naming file and line."""
        import jinja2

        try:
            template = self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise TemplateError(f"template {name!r} not found in {', '.join(self.template_dirs)}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{exc.filename or name}:{exc.lineno}: {exc.message}") from None
        try:
            return template.render(**context)
        except Exception as exc:
            line = _template_line(exc, template.filename)
            where = f"{template.filename}:{line}" if line else str(template.filename)
            raise TemplateError(f"{where}: {type(exc).__name__}: {exc}") from None


def _ref_error(page: Post, ref: str) -> PostError:
    """A ref/relref to no post rejects the post, as Hugo refuses to build it; the line is the ref's."""
    from publisher.posts import display_path, line_of_match

    line = line_of_match(page.path, re.escape(ref))
    message = f"ref {ref!r} matches no post; write its path from content_dir, like posts/my-post.md"
    return PostError([Problem(display_path(page.path), line, message)])


class _ShortcodeStep:
    """A Python-Markdown preprocessor (duck-typed: markdown is imported lazily) that expands
    the shortcodes of the post being converted, stashing HTML output away from Markdown."""

    def __init__(self, md: Any):
        self.md = md
        self.expander: shortcodes.Expander | None = None

    def run(self, lines: list[str]) -> list[str]:
        if self.expander is None:
            return lines
        return self.expander.expand("\n".join(lines)).split("\n")


def _template_line(exc: BaseException, filename: str | None) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


_END_BR = re.compile(r"</br\s*>", re.IGNORECASE)


def absolutize(html: str, base: str) -> str:
    """Rewrite every relative href/src/srcset (and the like) against base."""
    if not html.strip():
        return html
    import lxml.html

    if "</" in html:
        html = _END_BR.sub("<br>", html)  # a browser reads </br> as <br>; lxml dropped it, joining the lines
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    root.make_links_absolute(base, resolve_base_href=False, handle_failures="ignore")
    for el in root.iter():
        srcset = el.get("srcset") if isinstance(el.tag, str) else None
        if srcset:
            el.set("srcset", _absolute_srcset(srcset, base))
    out = lxml.html.tostring(root, encoding="unicode")
    return out[len("<div>") : -len("</div>")]


def _absolute_srcset(srcset: str, base: str) -> str:
    parts = []
    for candidate in srcset.split(","):
        bits = candidate.strip().split(None, 1)
        if bits:
            bits[0] = urljoin(base, bits[0])
            parts.append(" ".join(bits))
    return ", ".join(parts)


def text_summary(html: str, limit: int) -> str:
    """Plain text of the prose in HTML, cut at about `limit` characters (at a space when there is one nearby)."""
    if not html.strip():
        return ""
    import lxml.html

    root = lxml.html.fragment_fromstring(html, create_parent="div")
    prose = [el for el in root if isinstance(el.tag, str) and el.tag in _PROSE]
    for part in prose:
        for el in part.iter():
            if isinstance(el.tag, str) and el.tag in _BLOCKS:
                el.tail = "\n" + (el.tail or "")
    text = " ".join(" ".join(el.text_content() for el in prose).split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return re.sub(r"[\s,.;:，。；：、]+$", "", cut) + "…"


LOCALE_DIR = Path(__file__).parent / "locale"


def translations(language: str) -> Any:
    """The gettext catalog for a BCP 47 tag (zh-TW -> zh_TW, then zh); English when none.

    Catalogs are Babel-managed (`make catalogs`), so another language is a .po file."""
    import gettext

    tag = language.replace("-", "_")
    candidates = [tag, tag.split("_")[0]]
    return gettext.translation("messages", localedir=str(LOCALE_DIR), languages=candidates, fallback=True)


def format_date(value: Any, config: Config) -> str:
    """A post's date as readers of the site's language write it, in the site's time zone."""
    from babel.core import Locale, UnknownLocaleError
    from babel.dates import format_date as babel_date

    try:
        locale = Locale.parse(config.settings.language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        locale = Locale("en")
    return babel_date(value.astimezone(config.timezone), format="long", locale=locale)


def html_to_text(html: str) -> str:
    """Readable plain text for the text/plain part; links kept as [text](url), an image as
    [its alt text] (a reader of the text part learns a picture was there, and of what)."""
    from inscriptis import get_text
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.model.config import ParserConfig

    if not html.strip():
        return ""
    text = get_text(html, ParserConfig(css=CSS_PROFILES["strict"], display_links=True, display_images=True))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _markup(html: str) -> Any:
    from markupsafe import Markup

    return Markup(html)
