"""Front matter as Hugo reads it: YAML between `---`, TOML between `+++`, or JSON; the only
importer of python-frontmatter and PyYAML (kept out of `posts` so a build that parses nothing
never imports them)."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml
from frontmatter.default_handlers import BaseHandler, JSONHandler, YAMLHandler

from publisher.errors import PostError, Problem


class TomlHandler(BaseHandler):
    """Hugo's `+++` TOML front matter, read with the standard library's TOML 1.0 parser."""

    FM_BOUNDARY = re.compile(r"^\+{3,}\s*$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str, **kwargs: object) -> Any:
        return tomllib.loads(fm)


_STR_TAG = "tag:yaml.org,2002:str"


class _YamlLoader(yaml.CSafeLoader):
    """libyaml's safe loader (many times faster than the pure-Python one) that keeps an
    impossible date (2026-02-30) as text, so it is reported like any bad date."""

    _plain_tags: ClassVar[dict[str, str]] = {}

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        # libyaml asks this for every node. Without path resolvers (the safe loader has none), a
        # quoted scalar is always a string, and a plain one's tag depends on its text alone:
        # keys, true/false and terms repeat across posts, so their answers are kept.
        if kind is not yaml.ScalarNode or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        if not implicit[0]:
            return _STR_TAG
        tag = self._plain_tags.get(value)
        if tag is None:
            if len(self._plain_tags) >= 4096:  # dates and titles are unique: keep it bounded
                self._plain_tags.clear()
            tag = self._plain_tags[value] = super().resolve(kind, value, implicit)
        return tag

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # Most front matter values are strings: take them straight off the node, as
        # SafeConstructor.construct_yaml_str would, without its bookkeeping (~15% of a load).
        if node.tag == _STR_TAG and node.__class__ is yaml.ScalarNode:
            return node.value
        return super().construct_object(node, deep)


def _yaml_timestamp(loader: yaml.CSafeLoader, node: yaml.Node) -> Any:
    try:
        return yaml.CSafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_YamlLoader.add_constructor("tag:yaml.org,2002:timestamp", _yaml_timestamp)


class _YamlHandler(YAMLHandler):
    def load(self, fm: str, **kwargs: object) -> Any:
        return yaml.load(fm, Loader=_YamlLoader)


_HANDLERS: tuple[BaseHandler, ...] = (_YamlHandler(), TomlHandler(), JSONHandler())


@dataclass(frozen=True)
class Parsed:
    """A post file split into its front matter (loaded and as text) and its Markdown body."""

    meta: dict[str, Any]
    body: str
    fm_text: str
    fm_line: int  # line number of the first front matter line in the file
    # Why the file has no front matter to read (empty, or none at the top): a page that is no
    # post can do without (Hugo renders it), a post cannot.
    missing: str = ""

    def line_of(self, key: str) -> int:
        """The line of a top-level key (any case); the front matter's first line if not found."""
        pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*[:=]", re.IGNORECASE)
        for i, line in enumerate(self.fm_text.split("\n")):
            if pattern.match(line):
                return self.fm_line + i
        return self.fm_line


def split(text: str, display: str) -> Parsed:
    """Separate front matter from the Markdown body, with line numbers for errors."""
    if not text or text.isspace():
        return Parsed({}, "", "", 1, missing="file is empty")
    stripped = text.lstrip()
    skipped = text.count("\n", 0, len(text) - len(stripped))
    handler = next((h for h in _HANDLERS if h.detect(stripped)), None)
    if handler is None:
        missing = "no front matter: start the file with '---' (YAML), '+++' (TOML) or '{' (JSON)"
        return Parsed({}, text, "", skipped + 1, missing=missing)
    try:
        fm, body = handler.split(stripped)
    except ValueError:
        raise PostError(
            [Problem(display, skipped + 1, "front matter is never closed: add the closing delimiter line")]
        ) from None
    # Line (1-based) where the front matter text begins; its Nth line (0-based) is fm_line + N.
    opening = handler.FM_BOUNDARY.match(stripped)
    fm_line = skipped + 1 + stripped.count("\n", 0, opening.end() if opening else 0)
    try:
        meta = handler.load(fm)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None and mark.line >= fm.count("\n") and getattr(exc, "context_mark", None) is not None:
            mark = exc.context_mark  # ran off the end (an unclosed [ or "): point at where it opened
        line = fm_line + mark.line if mark is not None else fm_line
        what = " ".join(str(x) for x in (getattr(exc, "context", None), getattr(exc, "problem", None)) if x) or str(exc)
        raise PostError([Problem(display, line, f"invalid YAML front matter: {what}")]) from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = fm_line + int(m.group(1)) - 1 if m else fm_line
        msg = re.sub(r"\s*\(at line.*?\)", "", str(exc))
        raise PostError([Problem(display, line, f"invalid TOML front matter: {msg}")]) from None
    except json.JSONDecodeError as exc:
        raise PostError([Problem(display, fm_line + exc.lineno - 1, f"invalid JSON front matter: {exc.msg}")]) from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise PostError([Problem(display, fm_line, "front matter must be a set of 'key: value' lines")])
    return Parsed(meta, body, fm, fm_line)
