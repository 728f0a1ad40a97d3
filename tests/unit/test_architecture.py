"""The house's import rules, checked on the import graph (grimp, import-linter's engine).

Counted: every ``import`` statement in ``stationmap/``, those inside functions
too.  ``setup.cfg`` holds the same rules as import-linter contracts
(``make lint`` runs ``lint-imports``); these tests also catch what a sibling
contract cannot see: a package and one of its own modules importing each
other (``stationmap.web`` <-> ``stationmap.web.auth``).
"""

from __future__ import annotations

import grimp
import networkx as nx
import pytest

FLASK = ("flask", "flask_babel", "flask_login", "flask_wtf", "flask_limiter", "werkzeug")
#: the faces that may import the web layer: the web layer itself and the CLI (``stationmap serve``)
WEB_FACES = ("stationmap.web", "stationmap.cli")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("stationmap", include_external_packages=True, exclude_type_checking_imports=True,
                             cache_dir=None)


def _own_edges(graph):
    return [(m, i) for m in graph.modules if m.startswith("stationmap")
            for i in graph.find_modules_directly_imported_by(m) if i.startswith("stationmap")]


def cycles(edges) -> list[list[str]]:
    """Every set of modules that import each other, directly or around a loop."""
    g = nx.DiGraph(edges)
    return sorted(sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1)


def test_cycle_finder_sees_a_parent_child_loop():
    assert cycles([("p", "p.a"), ("p.a", "p"), ("p", "q")]) == [["p", "p.a"]]
    assert cycles([("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]) == [["a", "b", "c"]]
    assert cycles([("a", "b"), ("b", "c")]) == []


def test_no_import_cycles(graph):
    assert cycles(_own_edges(graph)) == []


def test_the_library_never_imports_flask(graph):
    library = [m for m in graph.modules if m.startswith("stationmap")
               and not any(m == f or m.startswith(f + ".") for f in WEB_FACES)]
    bad = []
    for m in library:
        for imported in graph.find_modules_directly_imported_by(m):
            root = imported.split(".")[0]
            if root in FLASK or imported == "stationmap.web" or imported.startswith("stationmap.web."):
                bad.append((m, imported))
    assert bad == []


def test_no_module_imports_another_modules_private_names():
    """No ``from stationmap.x import _y`` in the package: a name another module needs is public."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "stationmap"
    bad = []
    for path in sorted(root.rglob("*.py")):
        mod = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("stationmap")):
                bad += [f"{mod}: from {'.' * node.level}{node.module} import {a.name}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
    assert bad == []
