"""Errors meant for the operator: each says what is wrong, where, and how to fix it.

Anything else that escapes is a bug and deserves its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class PublisherError(Exception):
    """Base of every error the CLI prints as a one-line message instead of a traceback."""

    exit_code = 2


class ConfigError(PublisherError):
    """The configuration file is missing, unreadable or has a bad value."""


class TemplateError(PublisherError):
    """A Jinja template is missing, fails to parse or fails to render."""


class OutputError(PublisherError):
    """A folder publisher must write (output_dir, cache_dir) cannot be written."""


@contextmanager
def writing_into(key: str, folder: object, *also: type[Exception]) -> Iterator[None]:
    """Inside: an OSError (or one of `also`) becomes the operator's one-line OutputError
    naming the setting, the folder and the reason."""
    try:
        yield
    except (OSError, *also) as exc:
        raise _unwritable(key, folder, exc) from None


def _unwritable(key: str, folder: object, exc: Exception) -> OutputError:
    """The operator's message for an error met writing into a configured folder."""
    if isinstance(exc, FileExistsError):
        reason = "a file is in the way"
    else:
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
    filename = getattr(exc, "filename", None)
    where = f" ({filename})" if filename and str(filename) != str(folder) else ""
    return OutputError(f"{key} {folder}: cannot write there: {reason}{where}; make it a writable folder or set {key}")


@dataclass(frozen=True)
class Problem:
    """One reason a post could not be used, located as precisely as we know."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class PostError(PublisherError):
    """A post cannot be published; carries every problem found in it."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
