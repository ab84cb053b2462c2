"""Hugo's cascade: front matter a section's `_index.md` hands down to the pages below it.

A blog may hide a whole section this way (`cascade: {build: {list: never}}`, or `draft: true`)
or give every post in it an author or an image; a build that ignored it would put hidden posts
in the feeds and email them. A post's own front matter wins, then the nearest section's
cascade, then the ones above it (`content/_index.md` is the whole site's). An entry may be
limited with `_target` (or `target`): `path`, a glob such as `/posts/**` matched against the
page's file path (`/posts/a.md`, as Hugo 0.111 does) or its path without the extension (as
later Hugo does); `kind` (a post is a `page`); `lang`; `environment` (a build is `production`).

Only section pages whose text mentions "cascade" are parsed, so a blog without one pays a
read of each `_index.md`. A cascade that can't be read holds back every post below it (each
rejected, naming the section page): published without it, a post the cascade hides would
reach the feeds and the subscribers' inboxes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from publisher.errors import PostError, Problem
from publisher.posts import Source, display_path, read_text

_TARGET_KEYS = ("path", "kind", "lang", "environment")
ENVIRONMENT = "production"


@dataclass(frozen=True)
class Rule:
    """One cascade entry of one section page."""

    section: str  # the section folder's relpath with a trailing "/"; "" for content/ itself
    values: dict[str, Any]  # front matter keys lower-cased, as posts reads them
    origin: str  # the _index file, as problems show it
    line: int  # the line of its `cascade` key
    target: dict[str, str]  # _target's conditions, keys lower-cased

    def applies(self, relpath: str, language: str) -> bool:
        if not relpath.startswith(self.section):
            return False
        t = self.target
        if not (_matches(t.get("kind"), "page") and _matches(t.get("environment"), ENVIRONMENT)):
            return False
        return _matches(t.get("lang"), language) and ("path" not in t or _path_matches(t["path"], relpath))


@dataclass(frozen=True)
class Cascade:
    rules: tuple[Rule, ...] = ()  # deepest section first
    unreadable: tuple[tuple[str, str], ...] = ()  # (section, "path:line" of its section page)

    def digest(self) -> str:
        """Changes whenever what the cascade hands down changes ("" when there is none); not
        with the folder a build runs from, nor with lines moving in a section page."""
        if not self.rules and not self.unreadable:
            return ""
        handed = [(r.section, r.values, r.target) for r in self.rules]
        held = [section for section, _ in self.unreadable]
        text = json.dumps([handed, held], sort_keys=True, default=_stable)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def held_back_by(self, relpath: str) -> str | None:
        """The section page ("path:line") whose unreadable cascade holds this page back, if any."""
        return next((where for section, where in self.unreadable if relpath.startswith(section)), None)

    def inherited(self, relpath: str, language: str) -> dict[str, tuple[Any, Rule]]:
        """What a page at relpath inherits: key -> (value, the rule it comes from)."""
        out: dict[str, tuple[Any, Rule]] = {}
        for rule in self.rules:
            if rule.applies(relpath, language):
                for key, value in rule.values.items():
                    out.setdefault(key, (value, rule))
        return out


def load(sections: list[Source]) -> tuple[Cascade, list[Problem]]:
    """The cascade of every section page (`_index.md`) given; problems name the file and line."""
    rules: list[Rule] = []
    unreadable: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for source in sections:
        display = display_path(source.path)
        section = source.relpath.rpartition("/")[0]
        section = section + "/" if section else ""
        try:
            text = read_text(source, display)
            if "cascade" not in text.lower():
                continue
            from publisher.front_matter import split  # PyYAML: only when some section cascades

            parsed = split(text, display)
        except PostError as exc:
            problems.extend(exc.problems)
            first = exc.problems[0]
            unreadable.append((section, f"{display}:{first.line}" if first.line else display))
            continue
        meta = {str(k).lower(): v for k, v in parsed.meta.items()}
        value = meta.get("cascade")
        if value is None:
            continue
        line = parsed.line_of("cascade")
        try:
            entries = [_rule(e, section, display, line) for e in (value if isinstance(value, list) else [value])]
        except ValueError as exc:
            problems.append(Problem(display, line, str(exc)))
            unreadable.append((section, f"{display}:{line}"))
            continue
        rules.extend(entries)
    rules.sort(key=lambda r: r.section.count("/"), reverse=True)  # stable: a file's entries keep their order
    return Cascade(tuple(rules), tuple(unreadable)), problems


def _rule(entry: Any, section: str, display: str, line: int) -> Rule:
    if not isinstance(entry, dict):
        raise ValueError("'cascade' must be a table of front matter fields, or a list of such tables")
    values = {str(k).lower(): v for k, v in entry.items()}
    target: Any = {}
    for key in ("_target", "target"):
        if key in values:
            target = values.pop(key)
    if not isinstance(target, dict):
        raise ValueError("a cascade's '_target' must be a table, like {path: '/posts/**'}")
    target = {str(k).lower(): v for k, v in target.items()}
    for key, value in target.items():
        if key not in _TARGET_KEYS:
            raise ValueError(f"a cascade's '_target' has an unknown key {key!r}; use {', '.join(_TARGET_KEYS)}")
        if not isinstance(value, str):
            raise ValueError(f"a cascade's '_target' {key} must be text, not {value!r}")
    return Rule(section, values, display, line, target)


def _stable(value: Any) -> Any:
    """JSON for what YAML or TOML may hold besides JSON's types: dates, and sets in a stable order."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)


def _matches(pattern: str | None, value: str) -> bool:
    """A _target condition (a glob, as in Hugo: `{page,section}`, `*`); none matches anything."""
    if pattern is None:
        return True
    from wcmatch import fnmatch

    return fnmatch.fnmatch(value, pattern, flags=fnmatch.BRACE | fnmatch.IGNORECASE)


def _path_matches(pattern: str, relpath: str) -> bool:
    from wcmatch import glob  # Hugo's globs: ** crosses folders, {a,b} alternatives

    stem = relpath.rpartition(".")[0]
    paths = ["/" + relpath, "/" + stem]
    if stem.endswith("/index"):  # a leaf bundle: its folder is its path
        paths.append("/" + stem[: -len("/index")])
    flags = glob.GLOBSTAR | glob.BRACE | glob.IGNORECASE | glob.DOTGLOB
    return any(glob.globmatch(p, pattern, flags=flags) for p in paths)
