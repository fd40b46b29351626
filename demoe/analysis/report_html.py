"""A results table's Markdown (``results/tables/<name>.md``) as a stand-alone HTML page.

Snakemake's HTML report shows PNG, SVG, PDF and HTML results inline and offers every
other file (CSV, Markdown, LaTeX) as a download only; the pages written here put each
table, its paper number and its notes in front of the reader of ``results/report.html``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

import markdown

from demoe.analysis import figures
from demoe.analysis.table_render import caption as _caption
from demoe.analysis.tables import TableSpec

#: The report's categories: the sections of the paper (arXiv 2508.06228) that hold a
#: figure or table, numbered in reading order (the report sorts categories by name), the
#: claims scoreboard first.
REPORT_CATEGORIES = {
    "Claims": "0 Claims scoreboard",
    "Sec. 3.1": "1 Sec. 3.1 Similarity study",
    "Sec. 4": "2 Sec. 4 Experimental results",
    "Sec. 5": "3 Sec. 5 Discussion",
    "App. A": "4 App. A Similarity of weights",
    "App. B": "5 App. B AIO-Blur",
    "App. D": "6 App. D Experts specialization",
    "App. E": "7 App. E Router classification error",
    "App. F": "8 App. F Further ablations",
    "App. G": "9 App. G More OOD results",
}
#: The paper section of each table, by file-name prefix: Tables 1-3 (and the cost column
#: of Table 1) are Sec. 4; Fig. 6 (right), the training-strategy table, Sec. 5; the rest,
#: the appendix that holds them. The figures' sections are in the figure registry.
TABLE_SECTIONS = {
    "table1": "Sec. 4",
    "cost": "Sec. 4",
    "table2": "Sec. 4",
    "table3": "Sec. 4",
    "table_fig06": "Sec. 5",
    "table4": "App. B",
    "table5": "App. F",
    "table6": "App. F",
    "table7": "App. F",
    "table8": "App. G",
    "table9": "App. G",
    "claims": "Claims",
}
#: Titles of the tables not built from a TableSpec.
OTHER_TABLE_TITLES = {
    "cost": "Table 1 (computational cost column): parameters, MACs and runtime",
    "table4_aioblur_distribution": "Table 4: distribution of the AIO-Blur training set",
    "claims": "Claims scoreboard: the paper's claims checked against this run",
}

#: The page's look inside the report viewer's frame (a pane beside the open menu, about
#: 1000 px of a 1280 px screen). Each table scrolls in its own box, both ways, its header
#: row and its first column (the method, the claim) held in place, so a wide table's last
#: columns are reached without losing the row or the notes under it; the page itself never
#: scrolls sideways. ``border-collapse: separate`` keeps the borders on the held cells.
STYLE = """
body { font-family: sans-serif; font-size: 14px; margin: 1em; }
.table-scroll { overflow: auto; max-width: 100%; max-height: calc(100vh - 2em);
  margin: 0.5em 0 1em; }
table { border-collapse: separate; border-spacing: 0; }
th, td { border: 1px solid #bbb; border-width: 0 1px 1px 0; padding: 3px 6px;
  background: #fff; }
thead tr:first-child > * { border-top-width: 1px; }
th { background: #eee; position: sticky; top: 0; z-index: 2; }
tr:nth-child(even) td { background: #f7f7f7; }
td { white-space: nowrap; }
td.prose { white-space: normal; min-width: 10em; max-width: 36em; }
tr > :first-child { border-left-width: 1px; position: sticky; left: 0; z-index: 1; }
th:first-child { z-index: 3; }
td.prose:first-child { max-width: 16em; }
"""

#: Cells with more characters than this are prose (a claim, a test, a note) and wrap, so a
#: table's last columns (the scoreboard's verdict) stay on screen; numbers never wrap.
PROSE_CELL_CHARS = 40


def section_category(section: str) -> str:
    """The report category of a paper section; a subsection ("Sec. 4.3") is filed under
    its section ("Sec. 4")."""
    parts = section.split(".")
    for end in range(len(parts), 0, -1):
        category = REPORT_CATEGORIES.get(".".join(parts[:end]))
        if category is not None:
            return category
    raise ValueError(f"{section}: no report category in demoe.analysis.report_html")


def report_sections() -> dict[str, str]:
    """The report category of every figure (by name, from the figure registry) and table
    (by file-name prefix)."""
    sections = {f.name: f.section for f in figures.FIGURES} | TABLE_SECTIONS
    return {name: section_category(section) for name, section in sections.items()}


def report_category(name: str) -> str:
    """The report category (paper section) of a figure or table file name."""
    sections = report_sections()
    for prefix in sorted(sections, key=len, reverse=True):
        if name == prefix or name.startswith(f"{prefix}_"):
            return sections[prefix]
    raise ValueError(f"{name}: no paper section (demoe.analysis.figures, TABLE_SECTIONS)")


def caption_title(caption_rst: str) -> str:
    """The bold opening words of a figure caption (``**Fig. 2 — ...**``), without a final dot."""
    match = re.match(r"\s*\*\*(.+?)\*\*", caption_rst, re.DOTALL)
    if match is None:
        raise ValueError("a figure caption must open with its **bold title**")
    return " ".join(match.group(1).split()).rstrip(".")


def table_title(name: str, specs: Mapping[str, TableSpec]) -> str:
    """A table's paper number and title (``Table 1: ...``), for its report page."""
    if name in specs:
        return _caption(specs[name])
    if name in OTHER_TABLE_TITLES:
        return OTHER_TABLE_TITLES[name]
    raise ValueError(f"{name}: not a results table")


def _mark_prose_cells(body: str) -> str:
    """Give the long cells of ``body`` (Markdown's HTML) the wrapping class ``prose``."""

    def mark(match: re.Match) -> str:
        attrs, content = match.groups()
        long = len(html.unescape(re.sub(r"<[^>]+>", "", content))) > PROSE_CELL_CHARS
        return f'<td class="prose"{attrs}>{content}</td>' if long else match.group(0)

    return re.sub(r"<td([^>]*)>(.*?)</td>", mark, body, flags=re.DOTALL)


def _scroll_boxes(body: str, title: str) -> str:
    """Put each table of ``body`` in its own scroll box (class ``table-scroll``), one the
    keyboard can focus and scroll."""
    box = f'<div class="table-scroll" tabindex="0" role="region" aria-label="{html.escape(title)}">'
    return re.sub(
        r"<table>.*?</table>", lambda m: f"{box}{m.group(0)}</div>", body, flags=re.DOTALL
    )


def markdown_table_page(text: str, title: str) -> str:
    """The HTML page of a Markdown document made of pipe tables, headings and notes."""
    if "|" not in text:
        raise ValueError(f"{title}: no Markdown table in the input")
    body = _mark_prose_cells(markdown.markdown(text, extensions=["tables"], output_format="html"))
    body = _scroll_boxes(body, title)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
