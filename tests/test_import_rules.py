"""Import rules of the source tree, read with ``ast`` (nothing is imported or executed).

1. The library never imports a front end: no module outside the front ends imports the
   command line (``nasurf.cli``, ``nasurf.clikit``, ``nasurf.export_cli``, any ``*.cli`` or
   ``*.cli_*`` module), the web workbench (``nasurf.web``), or the UI toolkits typer,
   click and rich, not even inside a function: a Python user of the library must get
   results without a terminal UI, and a front end must stay replaceable.
2. No import cycles: the graph of module-level imports between nasurf's modules is
   acyclic, so every module can be imported on its own, in any order.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "nasurf"

UI_TOOLKITS = ("typer", "click", "rich")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_front_end(module: str) -> bool:
    """The command line and the web workbench (the modules the library may not import)."""
    parts = module.split(".")
    last = parts[-1]
    return (module in ("nasurf.cli", "nasurf.clikit", "nasurf.export_cli")
            or module == "nasurf.web" or module.startswith("nasurf.web.")
            or last == "cli" or last.startswith("cli_"))


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(module: str, *, module_level_only: bool) -> list[tuple[str, int]]:
    """(imported module, line) for every import in ``module``; relative imports resolved,
    ``from package import submodule`` counted as an import of the submodule."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if module_level_only and (_is_type_checking_block(child) or isinstance(
                    child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)):
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    keep = package.split(".")[:len(package.split(".")) - child.level + 1]
                    base = ".".join([*keep, *([child.module] if child.module else [])])
                subs = [f"{base}.{a.name}" for a in child.names if f"{base}.{a.name}" in MODULES]
                found.extend((s, child.lineno) for s in subs)
                if len(subs) < len(child.names):
                    found.append((base, child.lineno))
            visit(child)

    visit(tree)
    return found


def test_the_tree_is_found():
    assert "nasurf.io.core" in MODULES and "nasurf.cli" in MODULES
    assert is_front_end("nasurf.cli") and is_front_end("nasurf.analysis.cli_cycling")
    assert is_front_end("nasurf.web.app") and not is_front_end("nasurf.io.core")


def test_library_never_imports_a_front_end():
    offences = []
    for module, path in MODULES.items():
        if is_front_end(module):
            continue
        for target, line in imports_of(module, module_level_only=False):
            if is_front_end(target) or target.split(".")[0] in UI_TOOLKITS:
                offences.append(f"{path.relative_to(SRC.parent)}:{line} imports {target}")
    assert not offences, "the library imports a front end:\n" + "\n".join(offences)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        comp.append(member)
                        if member == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def module_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        # importing a submodule imports its parent packages first: not an edge of its own
        graph[module] = {t for t, _ in imports_of(module, module_level_only=True)
                         if t in MODULES and t != module and not module.startswith(t + ".")}
    return graph


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = _cycles(module_graph())
    assert not cycles, "import cycles between modules:\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_no_public_name_is_shadowed_by_a_submodule():
    # Importing ``pkg.name`` binds the submodule as ``pkg.name``; a package whose public
    # ``name`` is a function loaded lazily would then hand users the module instead
    # (``from nasurf.analysis import dqdv`` once did, depending on what ran before).
    import importlib
    import pkgutil
    import subprocess
    import sys

    packages = sorted({".".join(p.relative_to(SRC).parts[:-1])
                       for p in SRC.rglob("__init__.py")})
    clashes = []
    for pkg in packages:
        module = importlib.import_module(pkg)
        subs = {s.name for s in pkgutil.iter_modules(module.__path__)}
        clashes += [(pkg, n) for n in sorted(subs & set(getattr(module, "__all__", ())))]
    assert ("nasurf.sim", "simulate") in clashes  # the check sees a real clash
    # each clash in a fresh interpreter: submodule imported first, then the public name
    code = ("import importlib, sys, types\n"
            "pkg, name = sys.argv[1:]\n"
            "importlib.import_module(pkg + '.' + name)\n"
            "obj = getattr(importlib.import_module(pkg), name)\n"
            "print(isinstance(obj, types.ModuleType))")
    shadowed = [(pkg, name) for pkg, name in clashes
                if subprocess.run([sys.executable, "-c", code, pkg, name], check=True,
                                  capture_output=True, text=True).stdout.strip() == "True"]
    assert shadowed == []
