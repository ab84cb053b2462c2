"""Shared fixtures: a throw-away site on disk (config + content/) built from small files."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.config import Config, load_config

DATA = Path(__file__).parent / "data"
TAIPEI = ZoneInfo("Asia/Taipei")
NOW = datetime(2026, 2, 1, 12, 0, tzinfo=TAIPEI)
"""The fixed 'now' of every test: sample posts are from January 2026."""

BASE_CONFIG = {
    "title": "Test Blog",
    "description": "A blog for tests",
    "base_url": "https://blog.example.com/",
    "language": "zh-TW",
    "timezone": "Asia/Taipei",
}


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, settings: dict[str, object]) -> Path:
    lines, tables = [], []
    for key, value in settings.items():
        if isinstance(value, dict):
            tables.append(f"[{key}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in value.items()))
        else:
            lines.append(f"{key} = {toml_value(value)}\n")
    path.write_text("".join(lines) + "\n".join(tables), encoding="utf-8")
    return path


MakeSite = Callable[..., Config]


@pytest.fixture
def make_site(tmp_path: Path) -> MakeSite:
    """make_site({"posts/a.md": text_or_bytes, ...}, data=["posts/x.md"], **settings) -> Config.

    Files are written under <tmp>/site/content/; `data` names files under tests/data/ to copy
    there (keeping their relative path); settings override BASE_CONFIG.
    """

    def make(files: dict[str, str | bytes] | None = None, data: list[str] = (), **settings: object) -> Config:
        root = tmp_path / "site"
        content = root / "content"
        content.mkdir(parents=True, exist_ok=True)
        for name in data:
            target = content / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(DATA / name, target)
        for name, text in (files or {}).items():
            target = content / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(text, bytes):
                target.write_bytes(text)
            else:
                target.write_text(text, encoding="utf-8")
        return load_config(write_config(root / "publisher.toml", {**BASE_CONFIG, **settings}))

    return make


def post_text(
    title: str = "Hello", date: str = "2026-01-10T09:00:00+08:00", body: str = "Body text.", **extra: object
) -> str:
    """A minimal YAML post; extra keys are written as given (strings are quoted)."""
    lines = ["---", f"title: {toml_value(title)}", f"date: {date}"]
    for key, value in extra.items():
        lines.append(f"{key}: {toml_value(value)}")
    return "\n".join([*lines, "---", "", body, ""])
