"""The package's shape, checked from the source with ``ast``: no import cycles, layers import leftwards,
the CLI layer stays thin, files stay readable.

Every ``import`` counts, also those inside functions (lazy imports still form a cycle when both
run); imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "ecgbyte"
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}
PACKAGES = {_module_name(p) for p in PKG.rglob("__init__.py")}


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import nodes, skipping ``if TYPE_CHECKING:`` bodies."""
    out: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append(child)
            visit(child)

    visit(tree)
    return out


def imports_of(module: str) -> set[str]:
    """The ``ecgbyte`` modules ``module`` imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    path = MODULES[module]
    package = module if module in PACKAGES else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for name in names:
            while name and name not in MODULES:  # `import ecgbyte.x.y.attr` -> the module part
                name = name.rpartition(".")[0]
            if name.startswith("ecgbyte") and name != module:
                found.add(name)
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_scan_sees_lazy_imports_and_finds_a_planted_cycle() -> None:
    # the scan itself: a lazy import inside a function is an edge, and a cycle is reported
    assert "ecgbyte.elm.run" in GRAPH["ecgbyte.elm.generate"]
    assert "ecgbyte.ecg_tokenizer" in GRAPH["ecgbyte.elm.run"]  # imported inside a method
    planted = {k: set(v) for k, v in GRAPH.items()}
    planted["ecgbyte.ecg"].add("ecgbyte.elm.run")
    assert any("ecgbyte.ecg" in c and "ecgbyte.elm.run" in c for c in _cycles(planted))


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def _importers(prefix: str) -> dict[str, list[str]]:
    return {m: sorted(t for t in ts if t == prefix or t.startswith(prefix + ".")) for m, ts in GRAPH.items()}


def test_nothing_outside_the_cli_layer_imports_commands() -> None:
    bad = {
        m: ts
        for m, ts in _importers("ecgbyte.commands").items()
        if ts and not m.startswith("ecgbyte.commands") and m != "ecgbyte.cli"
    }
    assert bad == {}


# the tokenizer stack: imports without torch; never reaches into the language-model side
TOKENIZER_STACK = (
    "ecgbyte.ecg",
    "ecgbyte.errors",
    "ecgbyte.fileio",
    "ecgbyte.io",
    "ecgbyte.signal",
    "ecgbyte.symbols",
    "ecgbyte.bpe",
    "ecgbyte.tokenizer",
    "ecgbyte.tokenizer_io",
    "ecgbyte.ecg_tokenizer",
    "ecgbyte.sampling",
    "ecgbyte.convert",
    "ecgbyte.batch",
    "ecgbyte.corpus",
    "ecgbyte.plugins",
    "ecgbyte.tokenizer_tasks",
    "ecgbyte.presets",
    "ecgbyte.preset_tokenizer",
)
LM_SIDE = (
    "ecgbyte.data",
    "ecgbyte.elm",
    "ecgbyte.eval",
    "ecgbyte.report",
    "ecgbyte.demo",
    "ecgbyte.serve",
    "ecgbyte.commands",
)


def _in(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize(
    ("sources", "forbidden"),
    [
        (TOKENIZER_STACK, LM_SIDE),
        # the model side never reaches right into scoring, reporting or drawing
        (
            ("ecgbyte.data", "ecgbyte.elm"),
            ("ecgbyte.eval", "ecgbyte.report", "ecgbyte.viz", "ecgbyte.demo", "ecgbyte.serve"),
        ),
        (("ecgbyte.eval",), ("ecgbyte.report", "ecgbyte.demo", "ecgbyte.viz", "ecgbyte.serve")),
        # viz only draws: no model, no scoring
        (
            ("ecgbyte.viz",),
            ("ecgbyte.elm", "ecgbyte.eval", "ecgbyte.report", "ecgbyte.demo", "ecgbyte.serve"),
        ),
        # reports and the demo are finished outputs, the server is the last layer: nothing reaches into it
        (("ecgbyte.report", "ecgbyte.demo"), ("ecgbyte.serve",)),
        # the tokenizer class lives in one file: its file layer does not call back into it
        (("ecgbyte.tokenizer_io",), ("ecgbyte.tokenizer",)),
        # the end-to-end model module does not know the two-stage baseline (it plugs in as an ECG tokenizer)
        (("ecgbyte.elm.model",), ("ecgbyte.elm.two_stage", "ecgbyte.elm.encoder")),
        # runs are read through RunDir; only the pipeline and the demo touch the training loop
        (
            (
                "ecgbyte.elm.run",
                "ecgbyte.elm.generate",
                "ecgbyte.elm.attention",
                "ecgbyte.eval",
                "ecgbyte.report",
                "ecgbyte.serve",
            ),
            ("ecgbyte.elm.train", "ecgbyte.elm.pipeline"),
        ),
    ],
)
def test_layers_import_leftwards(sources: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
    bad = {
        m: sorted(t for t in GRAPH[m] if _in(t, forbidden))
        for m in GRAPH
        if _in(m, sources) and any(_in(t, forbidden) for t in GRAPH[m])
    }
    assert bad == {}


def test_no_source_file_over_500_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in PKG.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_command_modules_are_thin() -> None:
    """A command module is argparse + one call into the library + printing: no library functions."""
    allowed = {"add_arguments", "run", "parse_data_args"}
    extra = {}
    for path in sorted((PKG / "commands").glob("*.py")):
        tree = ast.parse(path.read_text())
        defs = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        public = {d for d in defs - allowed if not d.startswith("_")}
        if public:
            extra[path.name] = sorted(public)
    assert extra == {}
