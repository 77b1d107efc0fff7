"""Lazy ``"module:Class"`` targets: what ecgbyte's registries store (tokenizer formats, quantizers).

A registry maps a stored key (the ``format`` written in a file) to the dotted path of the class
that reads it, as Python entry points do. The class is imported only when a file of that format is
loaded, so the torch-free tokenizer stack can name the soft-token tokenizer (which needs torch)
without importing it, and a third-party package adds a format with one ``register_*`` call.
"""

from __future__ import annotations

import importlib
from typing import Any

from ecgbyte.errors import EcgbyteError, MissingDependencyError


def check_target(target: str, *, error: type[EcgbyteError]) -> str:
    """Return ``target`` if it has the form ``"package.module:Name"``, else raise ``error``."""
    module, sep, name = target.partition(":") if isinstance(target, str) else ("", "", "")
    if not sep or not module or not name or not all(p.isidentifier() for p in (*module.split("."), name)):
        raise error(f"{target!r} is not a 'package.module:ClassName' target; give the class as module:name")
    return target


def load_target(target: str, *, what: str, error: type[EcgbyteError]) -> Any:
    """Import ``"module:Name"`` and return the attribute; failures raise ``error`` naming ``what``."""
    module, _, name = check_target(target, error=error).partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module != exc.name and not module.startswith(exc.name + "."):
            raise MissingDependencyError(
                f"{what} ({target}) needs the package {exc.name!r}, which is not installed; install it "
                "(ecgbyte's soft-token tokenizer needs pip install 'ecgbyte[elm]')"
            ) from exc
        raise error(f"{what}: module {module!r} not found; install the package that provides it") from exc
    try:
        return getattr(mod, name)
    except AttributeError:
        raise error(f"{what}: {module} has no {name!r}; the registered target {target!r} is wrong") from None
