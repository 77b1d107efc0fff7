"""The tokenizer stack and its commands import without torch, transformers or peft."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "peft")

MODULES = [
    "ecgbyte.ecg_tokenizer",
    "ecgbyte.plugins",
    "ecgbyte.symbols.registry",
    "ecgbyte.tokenizer",
    "ecgbyte.tokenizer_io",
    "ecgbyte.corpus",
    "ecgbyte.tokenizer_tasks",
    "ecgbyte.data.sequences",
    "ecgbyte.sampling",
    "ecgbyte.convert",
    "ecgbyte.viz.tokenizer_report",
    "ecgbyte.commands.train_tokenizer",
    "ecgbyte.commands.encode",
    "ecgbyte.commands.tokenizer_report",
    "ecgbyte.commands.convert_tokenizer",
]

CODE = """
import sys
import numpy as np
{imports}
from ecgbyte.bpe.merges import Merges
from ecgbyte.symbols import Quantizer
from ecgbyte.tokenizer import ECGByteTokenizer
from ecgbyte.signal import synthesize
m = Merges(pairs=np.array([[0, 0]]), ids=np.array([26]))
tok = ECGByteTokenizer(quantizer=Quantizer(p1=-1, p99=1), merges=m)
ecg = synthesize(1, seed=0, duration_s=10.0)[0]
enc = tok.encode(ecg)
tok.decode(enc)
tok.to_tokenizers()
heavy = sorted(n for n in sys.modules if n.split(".")[0] in {heavy!r})
print("HEAVY:" + ",".join(heavy))
"""


def test_tokenizer_stack_and_commands_import_and_encode_without_heavy_packages():
    code = CODE.format(imports="\n".join(f"import {m}" for m in MODULES), heavy=set(HEAVY))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_cli_parser_builds_without_heavy_imports():
    code = (
        "import sys\nfrom ecgbyte.cli import build_parser\nbuild_parser()\n"
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {set(HEAVY)!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _import_graph() -> dict[str, set[str]]:
    """ecgbyte module -> the ecgbyte modules it imports (anywhere in it, except under TYPE_CHECKING)."""
    import ast
    from pathlib import Path

    import ecgbyte

    root = Path(ecgbyte.__file__).parent
    files = {}
    for f in root.rglob("*.py"):
        parts = f.relative_to(root.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f

    def owner(name: str) -> str:  # the module itself, or its nearest existing parent
        while name not in files:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for mod, f in files.items():
        tree = ast.parse(f.read_text())
        skip = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)
        }
        package = mod if f.name == "__init__.py" else mod.rpartition(".")[0]
        deps = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                deps |= {owner(a.name) for a in node.names if a.name.split(".")[0] == "ecgbyte"}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                if base.split(".")[0] == "ecgbyte":
                    deps |= {owner(f"{base}.{a.name}") for a in node.names}
        graph[mod] = deps - {mod}
    return graph


def test_no_import_cycles_between_ecgbyte_modules():
    """Imports inside functions count: a lazy import still ties two modules together."""
    graph = _import_graph()
    assert "ecgbyte.tokenizer_io" in graph and "ecgbyte.elm.two_stage" in graph
    done: set[str] = set()
    cycles = []

    def visit(mod: str, path: list[str]) -> None:
        if mod in path:
            cycles.append(" -> ".join([*path[path.index(mod) :], mod]))
            return
        if mod in done:
            return
        for dep in sorted(graph[mod]):
            visit(dep, [*path, mod])
        done.add(mod)

    for mod in sorted(graph):
        visit(mod, [])
    assert not cycles, cycles
    assert "ecgbyte.elm.two_stage" not in graph["ecgbyte.elm.model"]
    assert "ecgbyte.tokenizer" not in graph["ecgbyte.tokenizer_io"]
