"""`snakemake --report` holds every figure and table, by paper section.

The report is built, as typed in the README (no --cores, the viewer's stylesheet), over a
fake results folder: one small PNG per figure caption in workflow/report/ and one HTML page
per results table, so the test needs no training run (tests/test_workflow_e2e.py builds the
real DAG).
"""

from __future__ import annotations

import base64
import importlib.util
import re
from pathlib import Path

import pytest
from conftest import REPO, run_snakemake

from demoe.analysis.figures import FIGURES, figure_names
from demoe.analysis.report_html import (
    caption_title,
    markdown_table_page,
    report_category,
    report_sections,
    table_title,
)
from demoe.analysis.tables import table_specs

HAS_SNAKEMAKE = importlib.util.find_spec("snakemake") is not None
# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
MARKDOWN = (
    "**Table 9: a title**\n\n| Method | PSNR (dB)↑ |\n|:--|--:|\n| DeMoE | 30.1 |\n\n- a note\n"
)
#: The report viewer's stylesheet, as the README and `make report` pass it.
STYLESHEET = REPO / "workflow" / "report" / "style.css"


def test_markdown_table_page_renders_the_table_and_notes():
    page = markdown_table_page(MARKDOWN, "Table 9: a <title>")
    assert "<title>Table 9: a &lt;title&gt;</title>" in page
    assert re.search(r"<th[^>]*>PSNR \(dB\)↑</th>", page)
    assert re.search(r"<td[^>]*>30.1</td>", page)
    assert "<li>a note</li>" in page and "<strong>Table 9: a title</strong>" in page
    with pytest.raises(ValueError, match="no Markdown table"):
        markdown_table_page("just prose\n", "x")


def test_long_text_cells_wrap_and_numbers_do_not():
    """The scoreboard's claims wrap, so its verdict column stays on screen."""
    claim = "The router classifies the blur of the AIO-Blur test sets well. (Sec. 3.2)"
    page = markdown_table_page(
        f"| Claim | This run | Verdict |\n|:--|--:|:--|\n| {claim} | 0.9393 | holds |\n", "t"
    )
    assert re.search(r'<td class="prose"[^>]*>The router', page)
    assert re.search(r"<td(?! class)[^>]*>0.9393</td>", page)
    assert re.search(r"<td(?! class)[^>]*>holds</td>", page)


def test_each_table_scrolls_in_its_own_box():
    """A table wider than the viewer's pane scrolls inside its box, the notes under it stay
    in the page's width."""
    wide = "| Method | " + " | ".join(f"Dataset {i}" for i in range(20)) + " |\n"
    wide += "|:--|" + "--:|" * 20 + "\n| DeMoE |" + " 30.1 / 0.9 |" * 20 + "\n"
    page = markdown_table_page(f"{wide}\n- a note\n\n{wide}", "Table 1: <wide>")
    boxes = re.findall(r'<div class="table-scroll"[^>]*>\s*<table>.*?</table>\s*</div>', page, re.S)
    assert len(boxes) == 2 == page.count("<table>")
    assert 'aria-label="Table 1: &lt;wide&gt;"' in boxes[0] and 'tabindex="0"' in boxes[0]
    assert "<li>a note</li>" not in "".join(boxes)
    assert re.search(r"\.table-scroll \{[^}]*overflow: auto", page)


@pytest.mark.skipif(not HAS_SNAKEMAKE, reason="snakemake is not installed")
def test_report_stylesheet_targets_the_viewer_of_this_snakemake():
    """Every class the stylesheet selects (``tag.class.class``) is in one class list of the
    installed Snakemake report viewer: a renamed class would leave the layout unfixed."""
    components = Path(importlib.util.find_spec("snakemake").origin).parent.joinpath(
        "report", "html_reporter", "template", "components"
    )
    class_lists = [
        set(value.split())
        for js in components.glob("*.js")
        for value in re.findall(r'[`"]([^`"\n]*)[`"]', js.read_text())
    ]
    css = re.sub(r"/\*.*?\*/", "", STYLESHEET.read_text(), flags=re.S)
    compounds = re.findall(r"[a-z]*((?:\.[\w-]+)+)", re.sub(r"\{[^}]*\}", ",", css))
    assert len(compounds) >= 5
    for compound in compounds:
        classes = set(compound.strip(".").split("."))
        assert any(classes <= found for found in class_lists), compound


def test_every_figure_and_table_has_a_paper_section_and_title():
    specs = table_specs(["synth_global_motion"])
    for name in [*figure_names(), *_tables()]:
        assert report_category(name) in report_sections().values()
    for name in _tables():
        assert re.match(r"(Table \d|Fig\. \d|Claims scoreboard)", table_title(name, specs)), name
    assert report_category("fig12_router_output") == "7 App. E Router classification error"
    assert report_category("fig05_qualitative") == "2 Sec. 4 Experimental results"  # Sec. 4.3
    assert report_category("table_fig06_training_strategy") == "3 Sec. 5 Discussion"
    with pytest.raises(ValueError, match="no paper section"):
        report_category("fig99_new")
    for fig in FIGURES:  # the caption opens with the paper's figure number
        title = caption_title(fig.caption(REPO).read_text())
        assert re.match(rf"Fig\. {fig.number}\b", title), (fig.name, title)
    assert (
        caption_title("**Fig. 5 — qualitative\nresults.** more") == "Fig. 5 — qualitative results"
    )


def _tables() -> list[str]:
    return [*table_specs(["synth_global_motion"]), "cost", "table4_aioblur_distribution", "claims"]


@pytest.mark.skipif(not HAS_SNAKEMAKE, reason="snakemake is not installed")
def test_report_holds_every_figure_and_table(tmp_path):
    results = tmp_path / "results"
    (results / "figures").mkdir(parents=True)
    (results / "report/tables").mkdir(parents=True)
    for name in figure_names():
        (results / "figures" / f"{name}.png").write_bytes(PNG)
    for name in _tables():
        page = markdown_table_page(MARKDOWN.replace("Table 9", name), name)
        (results / "report/tables" / f"{name}.html").write_text(page)
    report = tmp_path / "report.html"
    done = run_snakemake(
        "--report",
        str(report),
        "--report-stylesheet",
        str(STYLESHEET),
        results=results,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = report.read_text()
    assert STYLESHEET.read_text() in text  # the viewer's layout fixes, in the report
    for name in figure_names():
        assert f"filename={name}.png" in text, name
    for name in _tables():
        assert f"filename={name}.html" in text, name
    sections = report_sections()
    for section in set(sections.values()) - {sections["claims"]}:
        assert section in text
    # Captions with the paper's numbers, and the workflow description page.
    assert "Fig. 10" in text and "Table 4" in text
    assert "every figure and table of arXiv 2508.06228" in text
