"""The ``ecgbyte`` command.

Sub-commands live one per module in :mod:`ecgbyte.commands`; each module defines
``NAME`` (the sub-command), ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Modules import heavy dependencies (torch...) inside ``run``
only, so ``ecgbyte --help`` stays fast. Every :class:`~ecgbyte.errors.EcgbyteError`
is printed as one line, with exit status 2; so is a command line that does not parse
(numeric flags are checked while parsing, see :mod:`ecgbyte.cli_args`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from ecgbyte import __version__
from ecgbyte.cli_args import Parser, UsageError
from ecgbyte.errors import EcgbyteError


def _command_modules() -> list:
    import ecgbyte.commands as pkg

    mods = [importlib.import_module(f"{pkg.__name__}.{m.name}") for m in pkgutil.iter_modules(pkg.__path__)]
    mods = [m for m in mods if hasattr(m, "NAME") and hasattr(m, "run")]
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.NAME))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="ecgbyte",
        description="ECG-Byte: tokenize 12-lead ECGs with BPE and train ECG language models.",
    )
    parser.add_argument("--version", action="version", version=f"ecgbyte {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(
            mod.NAME,
            help=mod.HELP,
            description=(mod.__doc__ or mod.HELP).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:  # a bad flag: one line, exit status 2 (argparse's own status)
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "_run", None):
        parser.print_help()
        return 1
    try:
        return int(args._run(args) or 0)
    except EcgbyteError as exc:
        print(f"ecgbyte {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ecgbyte {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
