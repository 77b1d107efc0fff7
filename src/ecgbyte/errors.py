"""One exception family for everything a user can get wrong.

Every error derives from :class:`EcgbyteError`, itself a ``ValueError`` so that
callers who already catch ``ValueError`` keep working. Messages say *what* went
wrong, *where* (file, record, line) and *what to change*.
"""

from __future__ import annotations

from pathlib import Path


class EcgbyteError(ValueError):
    """Base class of every ecgbyte error shown to users."""


class RecordError(EcgbyteError):
    """A record (file) cannot be read or fails a signal check.

    ``path`` names the file (or record) and ``reason`` is a short machine-readable
    tag (``"missing_file"``, ``"nan"``, ...) used by batch jobs to count skips.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, reason: str = "invalid") -> None:
        self.path = str(path) if path is not None else None
        self.reason = reason
        if self.path is not None and self.path not in message:
            message = f"{self.path}: {message}"
        super().__init__(message)


class ConfigError(EcgbyteError):
    """An option or a config file holds an invalid value."""


class TokenizerError(EcgbyteError):
    """A tokenizer file is damaged, from a newer format, or used the wrong way."""


class DatasetError(EcgbyteError):
    """A dataset file or layout is malformed, or an item cannot be joined to its ECG."""


class ModelError(EcgbyteError):
    """A model or checkpoint cannot be loaded, or does not match its tokenizer."""


class RequestError(EcgbyteError):
    """A request to ``ecgbyte serve`` is malformed or over a limit (the upload, the questions...).

    ``status`` is the HTTP status to answer with (4xx; 503 when the queue is full) and ``code`` a
    short machine-readable tag (``"upload_too_large"``, ``"unsupported_type"``, ...).
    """

    def __init__(self, message: str, *, status: int = 400, code: str = "bad_request") -> None:
        self.status = int(status)
        self.code = code
        super().__init__(message)


class MissingDependencyError(EcgbyteError, ImportError):
    """An optional dependency is missing; the message names the pip extra to install."""


def require(module: str, extra: str) -> object:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"this feature needs the '{module}' package; install it with `pip install 'ecgbyte[{extra}]'`"
        ) from exc
