"""The package's layers point one way (issue 19.3), read from the source's import statements (AST, no import).

Every ``import rewardlab...`` / ``from rewardlab... import`` statement anywhere in a module (top level or inside a
function: the lazy imports that keep ``import rewardlab`` light are still dependencies) is an edge. The layers,
top to bottom, a package importing only layers below its own (and its own modules):

    cli -> serving, labeling, evaluation, training -> kinds -> scoring, preflight -> modeling, fitting -> data
        -> config, io_utils, losses, metrics, memory
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# rank of each top-level part of `rewardlab`: an import must go to a lower rank or stay inside its own part
LAYERS = {
    "config": 0, "io_utils": 0, "losses": 0, "metrics": 0, "memory": 0,
    "data": 1,
    "modeling": 2, "fitting": 2,
    "scoring": 3, "preflight": 3,
    "kinds": 4,
    "serving": 5, "labeling": 5, "evaluation": 5, "training": 5,
    "cli": 6, "": 7,  # "": the package's own __init__
}


def module_names() -> dict[str, Path]:
    names = {}
    for path in (SRC / "rewardlab").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def import_edges() -> list[tuple[str, str, str | None]]:
    """(importer, imported module, imported name or None) for every rewardlab import of every module."""
    names = module_names()
    edges = []
    for module, path in names.items():
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges += [(module, a.name, None) for a in node.names if a.name.split(".")[0] == "rewardlab"]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
                if base.split(".")[0] != "rewardlab":
                    continue
                for alias in node.names:  # `from rewardlab.x import y`: y is a module or a name of x
                    if alias.name.startswith("__"):
                        continue  # metadata (`from rewardlab import __version__`), not a dependency on a layer
                    target = f"{base}.{alias.name}"
                    edges.append((module, target, None) if target in names else (module, base, alias.name))
    return edges


def part(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_the_graph_is_read():
    """The reader finds known edges (a test of the test): the trainer's lazy and top-level imports."""
    edges = {(a, b) for a, b, _ in import_edges()}
    assert ("rewardlab.cli", "rewardlab.training.trainer") in edges
    assert ("rewardlab.training.trainer", "rewardlab.modeling.pair_rows") in edges
    assert ("rewardlab.kinds.finetune", "rewardlab.modeling.lean") in edges  # `from rewardlab.modeling import lean`
    assert {part(m) for m in module_names()} <= set(LAYERS), "a new top-level part needs a layer in LAYERS"


def test_no_import_cycles():
    graph: dict[str, set[str]] = {}
    for a, b, _ in import_edges():
        if a != b:
            graph.setdefault(a, set()).add(b)
    cycles, state = [], {}  # state: 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_layers_point_down():
    wrong = sorted({f"{a} -> {b}" for a, b, _ in import_edges()
                    if part(a) != part(b) and LAYERS[part(b)] >= LAYERS[part(a)]})
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_data_never_imports_models_and_only_cli_imports_training():
    edges = import_edges()
    assert not [(a, b) for a, b, _ in edges if part(a) == "data" and part(b) in ("modeling", "kinds", "scoring")]
    importers = {a for a, b, _ in edges if part(b) == "training" and part(a) != "training"}
    assert importers == {"rewardlab.cli"}, importers


def test_no_private_names_across_packages():
    """`from rewardlab.a import _x` is only allowed inside the same top-level part (a helper of one package)."""
    crossing = sorted(f"{a} imports {b}.{name}" for a, b, name in import_edges()
                      if name and name.startswith("_") and part(a) != part(b))
    assert not crossing, "\n".join(crossing)
