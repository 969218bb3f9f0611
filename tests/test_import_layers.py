"""The package's import order, walked from the installed sources.

Imports flow one way: core → adapters → registry → data → model → env → learners,
integrations and evaluation → loop → CLI. A module may import its own layer or a lower
one, never a higher one; no two modules import each other, directly or around a circle
(counting imports inside functions: the package defers many to call time); and nothing
imports a private ``_name`` (module or attribute) owned by a package it is not inside.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

# module prefix -> layer; the longest matching prefix wins
LAYERS = {
    "latentworld.core": 0, "latentworld._io": 0, "latentworld._version": 0, "latentworld.jsonutil": 0,
    "latentworld.config_flags": 0, "latentworld.curves": 0,
    "latentworld.tblog": 0, "latentworld.stats": 0,
    "latentworld.adapters": 1,
    "latentworld.registry": 2,
    "latentworld.data": 3,
    "latentworld.model": 4,
    "latentworld.env": 5, "latentworld.wrappers": 5,
    # ``import latentworld`` runs the package's __init__: make / make_vec / the registry
    "latentworld": 5,
    "latentworld.algos": 6, "latentworld.integrations": 6, "latentworld.execution": 6, "latentworld.metrics": 6,
    "latentworld.loop": 7, "latentworld.loop_config": 7, "latentworld.quickstart": 7,
    "latentworld.cli": 8, "latentworld.cli_rl": 8,
}


def _layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def _sources() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for pkg in ("latentworld", "latentworld.adapters"):
        for root in importlib.util.find_spec(pkg).submodule_search_locations:
            for path in Path(root).rglob("*.py"):
                parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
                mods[".".join([pkg, *parts])] = path
    return mods


def _imports(name: str, path: Path, known: set[str]) -> list[tuple[str, str | None, int]]:
    """(module imported, attribute or None, line) for every latentworld import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names if a.name.split(".")[0] == "latentworld"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(pkg[:len(pkg) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "latentworld":
                continue
            for a in node.names:  # ``from pkg import submodule`` imports the submodule
                found.append((f"{mod}.{a.name}", None, node.lineno) if f"{mod}.{a.name}" in known
                             else (mod, a.name, node.lineno))
    return found


SOURCES = _sources()
EDGES = {name: _imports(name, path, set(SOURCES)) for name, path in SOURCES.items()}


def test_the_walk_sees_the_whole_package():
    assert {"latentworld.core.env_base", "latentworld.adapters.smax", "latentworld.env.vector",
            "latentworld.loop", "latentworld.cli"} <= set(SOURCES)
    assert sum(len(v) for v in EDGES.values()) > 100


def test_no_import_reaches_a_higher_layer():
    bad = [f"{src} (layer {_layer(src)}) imports {dst} (layer {_layer(dst)}) at line {line}"
           for src, edges in EDGES.items() for dst, _, line in edges if _layer(dst) > _layer(src)]
    assert not bad, "\n".join(bad)


def test_core_and_adapters_import_only_the_core():
    bad = [f"{src} imports {dst}" for src, edges in EDGES.items() for dst, _, _ in edges
           if _layer(src) <= 1 and not (dst.startswith("latentworld.core") or _layer(dst) == 0
                                        or dst.startswith("latentworld.adapters"))]
    assert not bad, "\n".join(bad)


def _owner(module: str, attr: str | None) -> str | None:
    """The package that owns a private name, or None when nothing imported is private."""
    parts = module.split(".")
    if attr is not None and attr.startswith("_") and not attr.startswith("__"):
        return ".".join(parts[:-1]) if module in SOURCES and not SOURCES[module].name == "__init__.py" else module
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def test_nothing_imports_another_packages_private_names():
    bad = []
    for src, edges in EDGES.items():
        for dst, attr, line in edges:
            owner = _owner(dst, attr)
            if owner is not None and not (src == owner or src.startswith(owner + ".")):
                bad.append(f"{src}:{line} imports {dst}{':' + attr if attr else ''} (private to {owner})")
    assert not bad, "\n".join(bad)


def test_no_import_circle():
    graph = {src: {dst for dst, _, _ in edges if dst in SOURCES and dst != src} for src, edges in EDGES.items()}
    # a package's __init__ re-exporting its modules is not a circle with them
    graph = {src: {d for d in dsts if not (src.startswith(d + ".") and SOURCES[d].name == "__init__.py")}
             for src, dsts in graph.items()}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "\n".join(cycles)
