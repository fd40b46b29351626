"""The exploration notebooks of ``notebooks/``: jupytext percent files, clean and executable.

Each notebook is a ``.py`` file in jupytext's percent format (``# %%`` starts a code cell,
``# %% [markdown]`` a Markdown cell written as comments), the only source: Jupyter Lab opens
it as a notebook through jupytext and saves it back without outputs; no ``.ipynb`` is kept
in git. The tests read them with ``jupytext.read``.

``execute_notebooks(results_dir)`` runs every notebook with nbclient against a DAG
results folder (``DEMOE_RESULTS``) and fails on the first cell error; the end-to-end
DAG test calls it on the tiny test DAG's outputs::

    from test_notebooks import execute_notebooks

    execute_notebooks(results_dir)

Here it runs only when ``DEMOE_RESULTS`` is set (e.g. ``DEMOE_RESULTS=results pytest
tests/test_notebooks.py``). The kernel is this interpreter (``sys.executable``): a
kernelspec named ``python3`` is written to a temporary directory put first on
``JUPYTER_PATH``, so no installed kernelspec is needed or used.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from queue import Empty

import jupytext
import nbformat
import pytest
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from traitlets import Type, default

from demoe.analysis import notebook as notebook_helpers

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = [
    "01_data_mse_subsampling.py",
    "02_weight_similarity.py",
    "03_tsne_maps.py",
    "04_router_experts.py",
    "05_results_tables.py",
]
#: The text format of the notebooks: jupytext's percent format for Python scripts.
FORMAT = "py:percent"
KERNEL_NAME = "python3"
KERNELSPEC = {"name": KERNEL_NAME, "display_name": "Python 3 (ipykernel)", "language": "python"}
#: The one cell metadata key kept: jupytext's blank lines after a cell, where not its default.
LAYOUT_METADATA = {"lines_to_next_cell"}


#: How long one poll of the shell channel may wait before it looks again (seconds).
SHELL_POLL_SLICE = 1.0


class _SlicedShellChannel(AsyncZMQSocketChannel):
    """A shell channel whose wait for a reply looks at the socket at least every
    ``SHELL_POLL_SLICE`` seconds.

    nbclient waits for a cell's ``execute_reply`` with one poll of the shell socket as long
    as the cell timeout. Its stand-in for an ipywidgets ``Output`` widget (the ``choose``
    helper's drawing area) meanwhile *sends* state updates on that same socket from its
    IOPub task, and such a send can swallow the wake-up of the poll already waiting
    (jupyter/nbclient#312): the reply sits in the socket and the poll returns only at
    the timeout. That cost notebooks 02 and 05 a full timeout (300 s) in some runs. Short
    polls pick the reply up within a slice; the overall timeout is unchanged.
    """

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = SHELL_POLL_SLICE if deadline is None else deadline - time.monotonic()
            try:
                return await super().get_msg(timeout=max(0.0, min(SHELL_POLL_SLICE, left)))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class _SlicedShellClient(AsyncKernelClient):
    shell_channel_class = Type(_SlicedShellChannel)


class _SlicedShellKernelManager(AsyncKernelManager):
    @default("client_factory")
    def _client_factory_default(self) -> type:
        return _SlicedShellClient


def notebook_client(nb: nbformat.NotebookNode, timeout: int, **kwargs):
    """An nbclient ``NotebookClient`` for ``nb`` on the ``python3`` kernel of
    ``_environment``, whose shell polls cannot stall (``_SlicedShellChannel``)."""
    from nbclient import NotebookClient

    return NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=KERNEL_NAME,
        kernel_manager_class=_SlicedShellKernelManager,
        **kwargs,
    )


def notebook_paths() -> list[Path]:
    """Every notebook: each ``.py`` file of ``notebooks/``."""
    return sorted(NOTEBOOKS.glob("*.py"))


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook of a percent-format ``.py`` file, without outputs."""
    return jupytext.read(path, fmt=FORMAT)


#: The helpers every notebook imports from the library instead of defining its own.
HELPERS = {
    name
    for name, value in vars(notebook_helpers).items()
    if inspect.isfunction(value)
    and value.__module__ == notebook_helpers.__name__
    and not name.startswith("_")
}


def _code_nodes(path: Path) -> Iterator[ast.AST]:
    """Every syntax node of the code cells of a notebook."""
    for cell in read_notebook(path).cells:
        if cell.cell_type == "code":
            yield from ast.walk(ast.parse(cell.source))


@contextmanager
def _environment(results_dir: str | os.PathLike) -> Iterator[None]:
    """DEMOE_RESULTS and a ``python3`` kernelspec for ``sys.executable``, restored after."""
    with tempfile.TemporaryDirectory(prefix="demoe-kernels-") as tmp:
        spec_dir = Path(tmp) / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"Python 3 ({sys.executable})",
            "language": "python",
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
        saved = {k: os.environ.get(k) for k in ("DEMOE_RESULTS", "JUPYTER_PATH", "MPLBACKEND")}
        paths = [tmp, *filter(None, [saved["JUPYTER_PATH"]])]
        os.environ["JUPYTER_PATH"] = os.pathsep.join(paths)
        os.environ["DEMOE_RESULTS"] = str(Path(results_dir).resolve())
        os.environ.pop("MPLBACKEND", None)  # the kernel picks its inline backend
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def execute_notebooks(
    results_dir: str | os.PathLike, notebooks: list[Path] | None = None, timeout: int = 300
) -> dict[str, float]:
    """Execute every notebook (read from its ``.py`` file, run in memory: the files are
    untouched) against ``results_dir``; AssertionError naming the notebook and cell on any
    error.

    Returns the wall time of each notebook in seconds.
    """
    from nbclient.exceptions import CellExecutionError

    results_dir = Path(results_dir)
    assert results_dir.is_dir(), f"results folder not found: {results_dir}"
    paths = notebook_paths() if notebooks is None else list(notebooks)
    assert paths, f"no notebooks in {NOTEBOOKS}"
    times: dict[str, float] = {}
    with _environment(results_dir):
        for path in paths:
            nb = read_notebook(path)
            client = notebook_client(nb, timeout, resources={"metadata": {"path": str(NOTEBOOKS)}})
            start = time.perf_counter()
            try:
                client.execute()
            except CellExecutionError as err:
                raise AssertionError(f"{path.name} failed against {results_dir}:\n{err}") from err
            times[path.name] = time.perf_counter() - start
            errors = [
                (i, out.get("ename"), out.get("evalue"))
                for i, cell in enumerate(nb.cells)
                for out in cell.get("outputs", [])
                if out.get("output_type") == "error"
            ]
            assert not errors, f"{path.name}: cell errors {errors}"
    return times


def test_notebooks_exist() -> None:
    names = [p.name for p in notebook_paths()]
    assert names == NAMES, names


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_notebook_cells(path: Path) -> None:
    nb = read_notebook(path)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"] == KERNELSPEC
    assert nb.metadata["jupytext"]["text_representation"]["format_name"] == "percent"
    assert nb.cells[0].cell_type == "markdown", "first cell must describe the notebook"
    assert "RESULTS = results_folder()" in nb.cells[1].source, "cell 1 must locate the results"
    assert "require_artifacts(RESULTS, " in nb.cells[1].source, "cell 1 must check its inputs"
    for i, cell in enumerate(nb.cells):
        extra = {k: v for k, v in cell.metadata.items() if k not in LAYOUT_METADATA}
        assert not extra, f"cell {i} has metadata {extra}"


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_notebook_round_trips_through_jupytext(path: Path) -> None:
    """The file is exactly what jupytext writes for it: what Jupyter Lab saves, so opening
    and saving leaves the tree clean, and an edit in another format fails here."""
    stored = path.read_bytes().decode("utf-8")  # no newline translation: byte for byte
    written = jupytext.writes(read_notebook(path), fmt=FORMAT)
    assert stored == written, f"{path.name} is not as jupytext writes it (diff below)"


def test_no_ipynb_tracked() -> None:
    """The ``.py`` files are the notebooks; an ``.ipynb`` (with outputs) stays out of git."""
    root = NOTEBOOKS.parent
    try:
        inside = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        pytest.skip("git is not installed: cannot list the tracked files")
    if inside.returncode != 0 or Path(inside.stdout.strip()).resolve() != root:
        pytest.skip(f"{root} is not the top of a git checkout: no tracked files to list")
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--", "notebooks/*.ipynb"],
        capture_output=True,
        text=True,
        check=True,
    )
    tracked = listed.stdout.split()
    assert not tracked, f"notebooks are the jupytext .py files; untrack {tracked}"


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_notebook_uses_the_library_helpers(path: Path) -> None:
    """No notebook defines its own copy of a helper of ``demoe.analysis.notebook``, and
    each helper it calls is imported from there: one place to edit them."""
    nodes = list(_code_nodes(path))
    defined = {n.name for n in nodes if isinstance(n, ast.FunctionDef)} & HELPERS
    assert not defined, f"{path.name} defines {sorted(defined)}: import them from the library"
    called = {
        n.func.id for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    } & HELPERS
    imported = {
        alias.asname or alias.name
        for n in nodes
        if isinstance(n, ast.ImportFrom) and n.module == notebook_helpers.__name__
        for alias in n.names
    }
    assert called <= imported, f"{path.name} calls {sorted(called - imported)} without importing"


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_missing_results_fail_clearly(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an empty results folder the setup cell names the folder, `make reproduce` and
    DEMOE_RESULTS in one line."""
    nb = read_notebook(path)
    monkeypatch.setenv("DEMOE_RESULTS", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        exec(compile(nb.cells[1].source, f"{path.name} setup", "exec"), {})
    message = str(err.value)
    assert f"missing under {tmp_path.resolve()}: " in message, message
    assert "make reproduce" in message and "DEMOE_RESULTS" in message, message
    assert "\n" not in message, message


@pytest.mark.skipif(
    not os.environ.get("DEMOE_RESULTS"),
    reason="set DEMOE_RESULTS to a DAG results folder to execute the notebooks "
    "(the end-to-end DAG test runs them on its tiny results)",
)
def test_execute_notebooks_against_results() -> None:
    execute_notebooks(os.environ["DEMOE_RESULTS"])


def test_code_cells_compile() -> None:
    for path in notebook_paths():
        nb = read_notebook(path)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                compile(cell.source, f"{path.name} cell {i}", "exec")


def test_choose_draws_the_default_headless_and_fails_loudly(tmp_path: Path) -> None:
    """The widget helper ``demoe.analysis.notebook.choose``: the default is drawn without
    a front end, and an error in the drawing fails the cell instead of vanishing into the
    Output widget."""
    from nbclient.exceptions import CellExecutionError
    from nbformat.v4 import new_code_cell, new_notebook

    def run(source: str) -> nbformat.NotebookNode:
        setup = f"from {notebook_helpers.__name__} import choose"
        nb = new_notebook(cells=[new_code_cell(f"{setup}\n\n{source}")])
        nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "language": "python"}
        with _environment(tmp_path):
            notebook_client(nb, timeout=60).execute()
        return nb

    nb = run(
        "choose(lambda pair, measure: print('drawn', pair, measure), "
        "pair=([('a', 'b'), ('a', 'c')], ('a', 'c')), measure=(['pearson'], 'pearson'))"
    )
    # The drawing lands in the Output widget's stored state, below the drop-downs.
    assert "application/vnd.jupyter.widget-view+json" in json.dumps(nb.cells[0].outputs)
    assert "drawn ('a', 'c') pearson" in json.dumps(nb.metadata["widgets"])
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        run("choose(lambda x: 1 / x, x=([0, 1], 0))")


def test_shell_reply_wait_looks_again_every_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stall of jupyter/nbclient#312: a reply waiting in the shell socket whose wake-up
    was lost is found by the next short poll, not at the cell timeout; a reply that never
    comes still raises ``Empty`` once the whole timeout has passed."""
    monkeypatch.setattr(sys.modules[__name__], "SHELL_POLL_SLICE", 0.02)
    waits: list[float | None] = []
    ready_after = {"polls": 3}

    async def poll_once(self, timeout=None):  # one poll of the socket, as jupyter_client's
        assert timeout is not None and timeout <= 0.02, f"one poll waits {timeout} s"
        waits.append(timeout)
        await asyncio.sleep(timeout)
        if len(waits) > ready_after["polls"]:
            return {"msg_type": "execute_reply"}
        raise Empty

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", poll_once)
    channel = object.__new__(_SlicedShellChannel)  # no socket: the poll above stands in

    assert asyncio.run(channel.get_msg(timeout=300)) == {"msg_type": "execute_reply"}
    assert len(waits) == 4, waits

    waits.clear()
    ready_after["polls"] = 10**6
    with pytest.raises(Empty):
        asyncio.run(channel.get_msg(timeout=0.1))
    assert len(waits) > 1, waits  # it looked again until the whole timeout had passed
