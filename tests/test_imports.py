"""Import rules of the package, checked on the source (``ast``), not by importing it.

1. A command's module (a module under ``samfuse/cli/`` that defines a click command or group) is imported by no
   other module under ``samfuse/cli/``: commands share code through helper modules (``cli/common.py``,
   ``cli/report.py``, ``cli/video.py``) or the library, never through each other. ``cli/main.py`` loads the
   commands by name (``importlib``), which is not an import statement and is not counted.
2. No library module (outside ``samfuse/cli/``) imports ``samfuse.cli``, anywhere in the module. The one exception
   is ``samfuse/__main__.py``, the ``python -m samfuse`` entry point, whose whole job is to run the CLI.
3. No import cycle among samfuse modules at module level. Counted: the imports that run when a module is imported
   (top level, class bodies, ``try``/``if`` blocks). Not counted: imports inside functions (they run on a call,
   after every module involved has finished importing; the package uses them on purpose to keep torch out of
   ``samfuse --help``) and imports under ``if TYPE_CHECKING:`` (never run). An import of ``a.b.c`` counts as an
   edge to ``a.b.c`` only, not to its parent packages: a submodule importing a sibling while its package's
   ``__init__`` is running is the ordinary package pattern, not a cycle.

Rules 1 and 2 count every import, function-local ones included.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from shared_paths import REPO

SRC = REPO / "src"
PACKAGE = SRC / "samfuse"
ENTRY_POINTS = {"samfuse.__main__"}


@dataclass(frozen=True)
class Import:
    target: str  # the samfuse module depended on
    line: int
    module_level: bool  # runs when the importing module is imported


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(node: ast.ImportFrom, importer: str) -> str:
    """The absolute module of ``from <level dots><module> import ...`` in ``importer``."""
    if not node.level:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    parts = package.split(".")
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(node: ast.Import | ast.ImportFrom, importer: str) -> list[str]:
    """The samfuse modules an import statement depends on: ``from A import B`` is ``A.B`` when that is a module,
    else ``A``; ``import A.B`` is ``A.B``."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = _resolve(node, importer)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    return sorted({n for n in names if n == "samfuse" or n.startswith("samfuse.")})


def imports(module: str) -> list[Import]:
    """Every samfuse import of ``module`` (``if TYPE_CHECKING:`` blocks left out), marked module level or not."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    found: list[Import] = []

    def visit(node: ast.AST, module_level: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child, module_level)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.extend(Import(t, node.lineno, module_level) for t in _targets(node, module))
        inside = module_level and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, True)
    return found


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def defines_command(module: str) -> bool:
    """The module defines a click command or group (``@click.command``, ``@group.command``, ``@click.group``)."""
    tree = ast.parse(MODULES[module].read_text())
    return any(
        _decorator_name(d) in ("command", "group")
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        for d in node.decorator_list
    )


CLI = {m for m in MODULES if m.startswith("samfuse.cli.")}
COMMANDS = {m for m in CLI if defines_command(m)}


def test_the_walk_sees_the_package() -> None:
    """The checks below look at real modules and real imports (a broken walk would pass them all)."""
    assert {"samfuse.cli.fuse", "samfuse.cli.eval", "samfuse.cli.masks", "samfuse.cli.main"} <= COMMANDS
    assert {"samfuse.cli.common", "samfuse.cli.report", "samfuse.cli.video"} <= CLI - COMMANDS
    targets = {i.target for i in imports("samfuse.semantics")}
    assert {"samfuse.semantics.base", "samfuse.semantics.regions"} <= targets  # relative imports resolved
    assert "samfuse.io" in {i.target for i in imports("samfuse.cli.fuse")}
    common = imports("samfuse.cli.common")
    assert "samfuse.assembly" in {i.target for i in common if not i.module_level}  # inside build_pipeline
    assert "samfuse.pipeline" not in {i.target for i in common}  # TYPE_CHECKING left out


def test_no_command_imports_another_command() -> None:
    bad = [
        f"{MODULES[m].relative_to(REPO)}:{i.line} imports {i.target}"
        for m in sorted(CLI)
        for i in imports(m)
        if i.target in COMMANDS and i.target != m
    ]
    assert not bad, "commands share code through cli/common.py or the library:\n" + "\n".join(bad)


def test_no_library_module_imports_the_cli() -> None:
    bad = [
        f"{MODULES[m].relative_to(REPO)}:{i.line} imports {i.target}"
        for m in sorted(set(MODULES) - CLI - {"samfuse.cli"} - ENTRY_POINTS)
        for i in imports(m)
        if i.target == "samfuse.cli" or i.target.startswith("samfuse.cli.")
    ]
    assert not bad, "the library never depends on the command line:\n" + "\n".join(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_at_module_level() -> None:
    graph = {m: {i.target for i in imports(m) if i.module_level and i.target in MODULES} for m in MODULES}
    cycles = _cycles(graph)
    assert not cycles, "module-level import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)
