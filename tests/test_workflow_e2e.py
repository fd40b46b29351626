"""The whole DAG, end to end, on config/test.yaml (tiny synthetic data, tiny models).

One session-scoped run produces every target of `rule all`; the tests then check that
each output the DAG lists exists and is non-trivial, that tables have their rows and
columns, that figures decode and are not blank, and that the notebooks run on it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, run_snakemake
from PIL import Image

from demoe.analysis.figures import figure_names
from demoe.experiments.paper_tables import table_specs
from demoe.io.checksum import sha256_of
from demoe.tasks import AIO_BLUR, DATASETS

pytestmark = pytest.mark.slow
#: The results tables of rule results_table.
TABLES = tuple(table_specs())


def snakemake(
    results: Path, *args: str, overrides: tuple[Path, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run snakemake on config/test.yaml (+ ``overrides``) with outputs under ``results``."""
    configs = ["config/test.yaml", *overrides]
    return run_snakemake(*args, configs=configs, results=results, timeout=1500)


@pytest.fixture(scope="session")
def results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dag") / "results"
    run = snakemake(out, "--cores", "2")
    assert run.returncode == 0, run.stderr[-4000:]
    return out


def test_every_dag_output_exists_and_is_not_empty(results):
    summary = snakemake(results, "--cores", "1", "--summary")
    assert summary.returncode == 0, summary.stderr[-2000:]
    rows = [line.split("\t") for line in summary.stdout.splitlines()[1:] if line.strip()]
    outputs = [Path(r[0]) for r in rows]
    assert len(outputs) > 100
    missing = [str(p) for p in outputs if not p.exists()]
    assert not missing, missing[:10]
    empty = [str(p) for p in outputs if p.is_file() and p.stat().st_size == 0]
    assert not empty, empty[:10]
    assert all(r[4].strip() == "ok" for r in rows if len(r) > 4), [r for r in rows if r[4] != "ok"][
        :5
    ]


def test_tables_have_their_rows_and_columns(results):
    tables = results / "tables"
    for name in (
        "table1_aio_deblurring",
        "table2_ood",
        "table3_task_specific",
        "table4_aioblur_distribution",
        "table5_ablations",
        "table6_tlc",
        "table8_ood_extended",
        "table9_real_lolblur",
        "cost",
    ):
        assert (tables / f"{name}.csv").stat().st_size > 50, name
        assert (tables / f"{name}.md").read_text().count("|") > 10, name
    table4 = pd.read_csv(tables / "table4_aioblur_distribution.csv")
    assert set(DATASETS[d].display for d in AIO_BLUR) <= set(table4.astype(str).values.ravel())
    table1 = (tables / "table1_aio_deblurring.md").read_text()
    assert "DeMoE" in table1 and all(DATASETS[d].display in table1 for d in AIO_BLUR)
    cost = pd.read_csv(tables / "cost.csv")
    assert (cost["macs_g"] > 0).all() and (cost["params_m"] > 0).all()


def test_figures_decode_and_are_not_blank(results):
    pngs = sorted((results / "figures").glob("*.png"))
    names = {p.stem for p in pngs}
    # the default draws every figure (Fig. 8 from nafnet_lolv2_real, synthetic LOLv2-real)
    for fig in figure_names():
        assert fig in names, fig
        assert (results / "figures" / f"{fig}.pdf").read_bytes()[:4] == b"%PDF"
    for png in pngs:
        pixels = np.asarray(Image.open(png).convert("L"), dtype=np.float32)
        assert min(pixels.shape) > 100 and pixels.std() > 5, png.name


def test_every_model_has_a_card_with_its_scores_and_every_table_names_its_weights(results):
    """Each model folder's README.md holds this run's scores with their intervals and the
    SHA-256 of its weights; the tables and the scoreboard name the weights by that hash;
    every table states the run's scale."""
    folders = [p.parent for p in (results / "models").glob("*/config.json")]
    evaluated = [f for f in folders if (results / "eval" / f.name).is_dir()]
    assert len(evaluated) > 10
    for folder in folders:
        card = (folder / "README.md").read_text(encoding="utf-8")
        assert sha256_of(folder / "model.safetensors") in card, folder.name
        scores = r"\| PSNR \(dB\), [^|]+ \| [\d.]+ \| \[[\d.]+, [\d.]+\] \|"
        # models the tables never evaluate (the seed controls of Figs. 2/7/9) keep the
        # card of their training, with its validation scores
        pattern = scores if folder in evaluated else r"validation at step \d+"
        assert re.search(pattern, card), folder.name
    demoe = sha256_of(results / "models" / "demoe" / "model.safetensors")[:12]
    table1 = (results / "tables" / "table1_aio_deblurring.md").read_text(encoding="utf-8")
    assert re.search(rf"DeMoE[^;]* {demoe}", table1)
    assert f"demoe {demoe}" in (results / "tables" / "claims.md").read_text(encoding="utf-8")
    for name in ("table4_aioblur_distribution", "cost", *TABLES):
        text = (results / "tables" / f"{name}.md").read_text(encoding="utf-8")
        assert "Miniature run: embedded synthetic data" in text, name
    cost = (results / "tables" / "cost.md").read_text(encoding="utf-8")
    assert "Cost columns: the architectures at the paper's sizes" in cost


def test_changing_one_value_reruns_only_what_depends_on_it(results, tmp_path):
    override = tmp_path / "override.yaml"
    override.write_text("cost: {size: 48}\n")
    dry = snakemake(results, "-n", "--cores", "1", overrides=(override,))
    assert dry.returncode == 0, dry.stderr[-2000:]
    planned = dry.stdout
    assert "rule cost_table:" in planned and "rule fig06_cost:" in planned
    assert "rule train_model:" not in planned and "rule evaluate_" not in planned


# --- robust: bookkeeping settings rerun nothing ---------------------
def test_changing_bookkeeping_settings_reruns_nothing(results, tmp_path):
    override = tmp_path / "bookkeeping.yaml"
    override.write_text("train: {settings: {run: {log_every: 2, checkpoint_every: 5}}}\n")
    dry = snakemake(results, "-n", "--cores", "1", overrides=(override,))
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "rule train_model:" not in dry.stdout and "rule evaluate_" not in dry.stdout


# --- end robust ------------------------------------------------------------------------


def test_notebooks_run_on_the_dag_outputs(results):
    notebooks = pytest.importorskip("test_notebooks")
    notebooks.execute_notebooks(results)


def test_claims_scoreboard_and_blurry_input_row(results):
    """Every claim of config/claims.yaml gets a verdict from the DAG's artifacts,
    and Table 1 shows the blurry input's own scores."""
    from demoe.analysis.claims import FAILS, HOLDS, INCONCLUSIVE, load_claims

    board = pd.read_csv(results / "tables" / "claims.csv")
    claims = load_claims(REPO / "config" / "claims.yaml")
    assert list(board["id"]) == [c.id for c in claims]
    unmade = board[board["reason"].fillna("").str.contains("was not made by this run")]
    assert unmade.empty, unmade[["id", "reason"]].values.tolist()  # the DAG makes every input
    measured = board[board["this_run"].notna()]
    assert not measured.empty and measured["verdict"].isin([HOLDS, FAILS, INCONCLUSIVE]).all()
    # every measured value lies in its interval; a decided verdict never straddles its threshold
    assert (measured["ci_low"] <= measured["this_run"] + 1e-9).all()
    assert (measured["this_run"] <= measured["ci_high"] + 1e-9).all()
    threshold = {c.id: c.threshold for c in claims}
    for row in measured[measured["verdict"].isin([HOLDS, FAILS])].itertuples():
        assert not row.ci_low <= threshold[row.id] <= row.ci_high, row.id
    assert (
        "Blurry input (no restoration)"
        in (results / "tables" / "table1_aio_deblurring.md").read_text()
    )


# --- the report of the real run, built as the README types it (no --cores).
def test_report_holds_every_figure_and_table_of_the_run(results, tmp_path):
    report = tmp_path / "report.html"
    style = REPO / "workflow" / "report" / "style.css"
    run = snakemake(results, "--report", str(report), "--report-stylesheet", str(style))
    assert run.returncode == 0, run.stderr[-3000:]
    text = report.read_text(encoding="utf-8")
    pngs = sorted((results / "figures").glob("*.png"))
    pages = sorted((results / "report" / "tables").glob("*.html"))
    assert pngs and len(pages) >= 10
    for path in [*pngs, *pages]:
        assert f"filename={path.name};" in text, path.name
    assert style.read_text(encoding="utf-8") in text
    for page in pages:
        assert 'class="table-scroll"' in page.read_text(encoding="utf-8"), page.name
