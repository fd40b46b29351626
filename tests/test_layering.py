"""The import layering: every import of the library and the analysis scripts runs down.

Floors, lowest first (a module may import its own floor and those below, never above):

0. ``demoe.errors``, ``demoe.tasks``, ``demoe.paths`` — names, errors, the results layout
1. ``demoe.io`` — atomic writes, reading checkpoint files
2. ``demoe.data`` — datasets, manifests, synthetic data
3. ``demoe.models`` — architectures, their checkpoints (inference, loading, saving)
4. ``demoe.eval`` — metrics, evaluation, cost
5. ``demoe.train`` — the trainer and the two stages
6. ``demoe.experiments`` — the catalogue: experiments, paper tables and rows, eval jobs
7. ``demoe.analysis`` — statistics, tables, figures, claims
8. entry points: ``demoe`` (the package's public names), ``demoe.cli``, ``demoe.restore``,
   ``demoe.workflow``, and the ``analysis/`` scripts

Within a floor, the subpackages (and modules) must not import each other in a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FLOORS: tuple[tuple[str, ...], ...] = (
    ("demoe.errors", "demoe.tasks", "demoe.paths"),
    ("demoe.io",),
    ("demoe.data",),
    ("demoe.models",),
    ("demoe.eval",),
    ("demoe.train",),
    ("demoe.experiments",),
    ("demoe.analysis",),
    ("demoe", "demoe.cli", "demoe.restore", "demoe.workflow", "analysis"),
)


def floor_of(module: str) -> int:
    """The floor of a module: that of the longest floor prefix naming it."""
    best = (-1, -1)
    for level, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                best = max(best, (len(prefix), level))
    if best[1] < 0:
        raise AssertionError(f"{module} is on no floor: add it to FLOORS")
    return best[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> Iterator[str]:
    """The ``demoe``/``analysis`` modules ``path`` imports (absolute imports; ``from X
    import y`` counts as an import of ``X.y`` where that is a module, else of ``X``)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [a.name for a in node.names if _is_module(node.module, a.name)]
            names = [f"{node.module}.{m}" for m in modules]
            if len(modules) < len(node.names):  # names defined in node.module itself
                names.append(node.module)
        else:
            continue
        yield from (n for n in names if n.split(".")[0] in ("demoe", "analysis"))


def _is_module(package: str, name: str) -> bool:
    base = REPO.joinpath(*package.split("."))
    return (base / f"{name}.py").is_file() or (base / name / "__init__.py").is_file()


def sources() -> list[Path]:
    return sorted([*REPO.glob("demoe/**/*.py"), *REPO.glob("analysis/*.py")])


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): set(project_imports(p)) for p in sources()}


def test_every_module_has_a_floor() -> None:
    for module in import_graph():
        floor_of(module)


def test_no_import_runs_up() -> None:
    upward = [
        f"{module} (floor {floor_of(module)}) imports {target} (floor {floor_of(target)})"
        for module, targets in import_graph().items()
        for target in sorted(targets)
        if floor_of(target) > floor_of(module)
    ]
    assert not upward, "imports that run back up:\n" + "\n".join(upward)


def _unit(module: str) -> str:
    """The unit whose circles count: a subpackage of ``demoe`` one level down
    (``demoe.eval``, ``demoe.analysis.plots``) or a top-level module."""
    parts = module.split(".")
    if parts[0] == "analysis":
        return module
    depth = 3 if parts[:2] == ["demoe", "analysis"] and len(parts) > 3 else 2
    return ".".join(parts[:depth])


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A circle in ``edges`` (as the list of its nodes) or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_circles_between_subpackages() -> None:
    units: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        if module == "demoe":  # the package's public names import from everywhere
            continue
        src = _unit(module)
        units.setdefault(src, set()).update(
            u for t in targets if (u := _unit(t)) != src and t != "demoe"
        )
    assert find_cycle(units) is None, f"import circle: {' -> '.join(find_cycle(units) or [])}"


def test_no_circles_between_modules() -> None:
    graph = {m: {t for t in ts if t != "demoe"} for m, ts in import_graph().items() if m != "demoe"}
    cycle = find_cycle(graph)
    assert cycle is None, f"import circle: {' -> '.join(cycle or [])}"


@pytest.mark.parametrize(
    ("edges", "circle"),
    [({"a": {"b"}, "b": {"c"}, "c": set()}, False), ({"a": {"b"}, "b": {"a"}}, True)],
)
def test_find_cycle_finds_circles(edges: dict[str, set[str]], circle: bool) -> None:
    assert (find_cycle(edges) is not None) is circle


def test_imports_are_read_as_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``from demoe import paths`` imports demoe.paths (floor 0), not the package (floor 8);
    ``from demoe.train.loop import train`` imports demoe.train.loop, which runs up from eval."""
    source = tmp_path / "demoe" / "eval" / "probe.py"
    source.parent.mkdir(parents=True)
    source.write_text("from demoe import paths\nfrom demoe.train.loop import train\n")
    assert set(project_imports(source)) == {"demoe.paths", "demoe.train.loop"}
    assert floor_of("demoe.train.loop") > floor_of("demoe.eval.probe")
