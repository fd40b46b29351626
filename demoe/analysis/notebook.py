"""Helpers of the exploration notebooks (``notebooks/NN_*.py``): the results folder they
read, the artifacts they need from it, manifest paths as local files, the figure and table
scripts of ``analysis/``, and the drop-downs that redraw a figure.

Every notebook starts with::

    from demoe import paths
    from demoe.analysis.notebook import require_artifacts, results_folder

    RESULTS = results_folder()
    require_artifacts(RESULTS, [paths.aio_manifest(RESULTS, "test"), ...])

ipywidgets and IPython are imported by :func:`choose` only, so this module imports
without a Jupyter front end.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

#: The checkout this package is imported from (an editable install): it holds
#: ``analysis/`` and is where relative manifest paths are written from.
REPO = Path(__file__).resolve().parents[2]
#: The environment variable naming the results folder the notebooks read.
RESULTS_ENV = "DEMOE_RESULTS"


def results_folder(default: str = "../results") -> Path:
    """The results folder the notebooks read: ``$DEMOE_RESULTS``, else ``default``
    (relative to the notebook's directory, ``notebooks/``), made absolute."""
    return Path(os.environ.get(RESULTS_ENV, default)).expanduser().resolve()


def _relative(artifact: str, results: Path) -> str:
    path = Path(artifact)
    return str(path.relative_to(results)) if path.is_relative_to(results) else artifact


def require_artifacts(results: Path, artifacts: Iterable[str | os.PathLike[str]]) -> None:
    """FileNotFoundError, in one line, naming every artifact of ``artifacts`` missing
    under ``results`` (relative to it) and how to produce them.

    Each artifact is a path under ``results`` built by :mod:`demoe.paths`, or a glob
    pattern (``paths.table(results, "*")``) that at least one file must match.
    """
    missing = [_relative(a, results) for a in map(str, artifacts) if not glob.glob(a)]
    if missing:
        raise FileNotFoundError(
            f"DAG artifacts missing under {results}: {', '.join(missing)}. "
            f"Run `make reproduce` first, or set {RESULTS_ENV} to a results folder."
        )


def local_path(path: str | os.PathLike[str], results: Path) -> Path:
    """A path of a manifest as a file that exists from the notebook.

    An absolute path is kept. A relative one is tried from the working directory, the
    checkout (:data:`REPO`) and the folder above ``results``; one under ``results/`` (the
    DAG's default folder) is also tried under ``results`` itself, so a run whose results
    moved still resolves. The first that exists wins, else the path under the checkout.
    """
    p = Path(path)
    if p.is_absolute():
        return p
    candidates = [Path.cwd() / p, REPO / p, results.parent / p]
    if p.parts and p.parts[0] == "results":
        candidates.append(results.joinpath(*p.parts[1:]))
    return next((c for c in candidates if c.exists()), REPO / p)


def analysis_script(name: str) -> ModuleType:
    """A figure or table script of ``<repo>/analysis`` imported as a module (they are not
    a package), with the notebook's matplotlib backend kept (the scripts select Agg)."""
    import matplotlib

    script = REPO / "analysis" / f"{name}.py"
    if not script.is_file():
        raise FileNotFoundError(f"no analysis script {script}: name one of {REPO / 'analysis'}")
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    use, matplotlib.use = matplotlib.use, lambda *args, **kwargs: None
    try:
        spec.loader.exec_module(module)
    finally:
        matplotlib.use = use
    return module


def choose(show: Callable[..., object], **choices: tuple[Sequence[Any], Any]) -> None:
    """Draw ``show(**defaults)`` now and offer each choice ``name=(options, default)`` as a
    drop-down that redraws it.

    The drawing goes to an ipywidgets ``Output`` below the drop-downs. An error in the
    first drawing is raised again, so the cell fails instead of the error vanishing into
    the widget; an error after a change of a drop-down is shown in the widget.
    """
    import ipywidgets as widgets
    from IPython.display import display

    def label(option: Any) -> str:  # a tuple option (a dataset pair) would read as (label, value)
        return " vs ".join(map(str, option)) if isinstance(option, tuple) else str(option)

    controls = {
        name: widgets.Dropdown(
            options=[(label(o), o) for o in options], value=default, description=name
        )
        for name, (options, default) in choices.items()
    }
    out = widgets.Output()

    def draw(_change: object = None) -> None:
        failure = []
        with out:  # the Output widget shows, and swallows, an exception raised inside
            out.clear_output(wait=True)
            try:
                show(**{name: c.value for name, c in controls.items()})
            except Exception as err:
                failure.append(err)
                raise
        if failure and _change is None:
            raise failure[0]

    for control in controls.values():
        control.observe(draw, names="value")
    display(widgets.HBox(list(controls.values())), out)
    draw()
