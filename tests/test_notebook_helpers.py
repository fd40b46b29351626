"""The helpers of the exploration notebooks (``demoe.analysis.notebook``) without a kernel:
the results folder, the missing-artifacts error, manifest paths as local files and the
analysis scripts as modules. ``choose`` draws widgets and is run in a kernel by
``tests/test_notebooks.py``."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import matplotlib
import pytest

from demoe import paths
from demoe.analysis import notebook
from demoe.analysis.notebook import (
    REPO,
    analysis_script,
    local_path,
    require_artifacts,
    results_folder,
)


def test_results_folder_reads_demoe_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMOE_RESULTS", str(tmp_path / "run" / ".." / "run"))
    assert results_folder() == (tmp_path / "run").resolve()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DEMOE_RESULTS", "~/elsewhere")
    assert results_folder() == (tmp_path / "elsewhere").resolve()


def test_results_folder_defaults_beside_the_notebooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEMOE_RESULTS", raising=False)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    monkeypatch.chdir(notebooks)
    assert results_folder() == (tmp_path / "results").resolve()
    assert results_folder("runs/a") == (notebooks / "runs" / "a").resolve()


def test_require_artifacts_names_what_is_missing_and_the_fix(tmp_path: Path) -> None:
    results = tmp_path.resolve()
    present = Path(paths.model_file(results, "demoe"))
    present.parent.mkdir(parents=True)
    present.write_bytes(b"")
    wanted = [
        present,
        paths.manifest(results, "aioblur_test"),
        paths.eval_file(results, "demoe", "*", "auto", ".csv"),
    ]
    with pytest.raises(FileNotFoundError) as err:
        require_artifacts(results, wanted)
    message = str(err.value)
    assert message == (
        f"DAG artifacts missing under {results}: data/manifests/aioblur_test.jsonl, "
        "eval/demoe/*/auto.csv. Run `make reproduce` first, or set DEMOE_RESULTS to a "
        "results folder."
    )


def test_require_artifacts_accepts_present_files_folders_and_matched_patterns(
    tmp_path: Path,
) -> None:
    results = tmp_path.resolve()
    table = Path(paths.table(results, "cost"))
    table.parent.mkdir(parents=True)
    table.write_text("method\n", encoding="utf-8")
    require_artifacts(results, [table, table.parent, paths.table(results, "*")])
    with pytest.raises(FileNotFoundError, match=r"under .*: tables/\*\.md\. Run"):
        require_artifacts(results, [paths.table(results, "*", "md")])


def test_require_artifacts_names_a_path_outside_the_results_as_given(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.csv"
    with pytest.raises(FileNotFoundError, match=f": {re.escape(str(outside))}\\. Run"):
        require_artifacts((tmp_path / "results").resolve(), [outside])


@pytest.fixture()
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A working directory and a results folder moved away from where the DAG ran."""
    cwd = tmp_path / "cwd"
    results = tmp_path / "moved" / "run"
    cwd.mkdir()
    results.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    return {"cwd": cwd, "results": results}


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_local_path_keeps_an_absolute_path(layout: dict[str, Path]) -> None:
    absolute = layout["cwd"] / "nowhere.png"
    assert local_path(absolute, layout["results"]) == absolute


def test_local_path_finds_a_manifest_path_in_a_moved_results_folder(
    layout: dict[str, Path], tmp_path: Path
) -> None:
    name = f"{tmp_path.name}.png"
    image = _touch(layout["results"] / "data" / "synthetic" / name)
    assert local_path(f"results/data/synthetic/{name}", layout["results"]) == image


def test_local_path_tries_the_working_directory_first(layout: dict[str, Path]) -> None:
    here = _touch(layout["cwd"] / "data" / "a.png")
    _touch(layout["results"].parent / "data" / "a.png")
    assert local_path("data/a.png", layout["results"]) == here


def test_local_path_tries_beside_the_results_folder(layout: dict[str, Path]) -> None:
    beside = _touch(layout["results"].parent / "data" / "b.png")
    assert local_path(Path("data", "b.png"), layout["results"]) == beside


def test_local_path_falls_back_to_the_checkout(layout: dict[str, Path], tmp_path: Path) -> None:
    missing = f"results/{tmp_path.name}/absent.png"
    assert local_path(missing, layout["results"]) == REPO / missing


def test_analysis_script_keeps_the_notebook_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """fig10's script selects Agg on import; the notebook's backend stays."""
    calls: list[tuple] = []

    def use(*args: object, **kwargs: object) -> None:
        calls.append(args)

    monkeypatch.setattr(matplotlib, "use", use)
    module = analysis_script("fig10_lolblur_mse")
    assert callable(module.draw)
    assert module.__file__ == str(REPO / "analysis" / "fig10_lolblur_mse.py")
    assert calls == []
    assert matplotlib.use is use


def test_analysis_script_names_an_unknown_script() -> None:
    with pytest.raises(FileNotFoundError, match="no analysis script .*nope.py"):
        analysis_script("nope")


def test_imports_without_a_front_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """ipywidgets and IPython are imported by ``choose`` only, when it is called."""
    import demoe.analysis

    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    monkeypatch.setitem(sys.modules, "IPython", None)
    monkeypatch.delitem(sys.modules, notebook.__name__)
    monkeypatch.setattr(demoe.analysis, "notebook", notebook)
    fresh = importlib.import_module(notebook.__name__)
    assert fresh is not notebook
    with pytest.raises(ImportError, match="ipywidgets"):
        fresh.choose(print, x=([1], 1))
