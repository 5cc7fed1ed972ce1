"""The package's import arrows point one way: down the data flow of docs/architecture.md.

Read from the source with ``ast`` (imports inside functions count; imports only for type
checkers, under ``if TYPE_CHECKING:``, do not): every module imports only rooms below its
own, so no two rooms (top-level modules or folders) import each other, and the modules
inside a folder form no cycle.
"""

import ast
from collections import defaultdict
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "forgetlab"

#: Each room's place in the data flow, from the bottom; a room imports only rooms of a lower rank.
RANK = {
    "errors": 0,
    "validation": 1,
    "_registry": 1,
    "tasks": 2,
    "schedules": 2,
    "metrics": 2,
    "numerics": 2,
    "models": 2,
    "results": 3,
    "strategies": 4,
    "engines": 5,
    "experiment": 6,
    "executors": 7,
    "sweep": 8,
    "store": 9,
    "stats": 9,
    "plots": 10,
    "report": 11,
    "config": 12,
    "api": 13,
    "cli": 14,
    "__init__": 15,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> set[str]:
    """The forgetlab modules a file imports at run time (anywhere in it)."""
    module = _module_name(path)
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("forgetlab"))
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: a relative import (the package uses absolute ones)"
            base = node.module or ""
            if base.startswith("forgetlab"):
                for alias in node.names:  # `from forgetlab.engines import torch` imports a module
                    candidate = f"{base}.{alias.name}"
                    is_module = (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py").exists()
                    found.add(candidate if is_module else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    found.discard(module)
    return found


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


GRAPH = {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_room_has_a_place_in_the_flow():
    assert {_room(module) for module in GRAPH} <= set(RANK), "a new room needs a rank in this test and the docs"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_a_module_imports_only_rooms_below_its_own(module):
    room = _room(module)
    upward = sorted(
        imported for imported in GRAPH[module] if _room(imported) != room and RANK[_room(imported)] >= RANK[room]
    )
    assert not upward, f"{module} (rank {RANK[room]}) imports {upward}"


def test_no_two_rooms_import_each_other():
    arrows = defaultdict(set)
    for module, imported in GRAPH.items():
        for other in imported:
            if _room(other) != _room(module):
                arrows[_room(module)].add(_room(other))
    both_ways = sorted((a, b) for a in arrows for b in arrows[a] if a < b and a in arrows.get(b, ()))
    assert not both_ways


def test_the_modules_of_a_folder_form_no_cycle():
    try:
        tuple(TopologicalSorter({module: GRAPH[module] & GRAPH.keys() for module in GRAPH}).static_order())
    except CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")
