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

from demoe.analysis.tables import TableSpec, _caption

#: Paper section (arXiv 2508.06228) of each figure/table, by file-name prefix: the report
#: categories (numbered: the report sorts them by name). Fig. 2 opens Sec. 3.1; Tables 1-3
#: and Figs. 4-5 are Sec. 4; Fig. 6 and its training-strategy table, Sec. 5; the rest, the
#: appendix that holds them.
REPORT_SECTIONS = {
    "fig02": "1 Sec. 3.1 Similarity study",
    "fig04": "2 Sec. 4 Experimental results",
    "fig05": "2 Sec. 4 Experimental results",
    "table1": "2 Sec. 4 Experimental results",
    "cost": "2 Sec. 4 Experimental results",
    "table2": "2 Sec. 4 Experimental results",
    "table3": "2 Sec. 4 Experimental results",
    "fig06": "3 Sec. 5 Discussion",
    "table_fig06": "3 Sec. 5 Discussion",
    "fig07": "4 App. A Similarity of weights",
    "fig08": "4 App. A Similarity of weights",
    "fig09": "4 App. A Similarity of weights",
    "fig10": "5 App. B AIO-Blur",
    "table4": "5 App. B AIO-Blur",
    "fig11": "6 App. D Experts specialization",
    "fig12": "7 App. E Router classification error",
    "fig13": "8 App. F Further ablations",
    "table5": "8 App. F Further ablations",
    "table6": "8 App. F Further ablations",
    "table7": "8 App. F Further ablations",
    "fig14": "9 App. G More OOD results",
    "table8": "9 App. G More OOD results",
    "table9": "9 App. G More OOD results",
    "claims": "0 Claims scoreboard",
}
#: Titles of the tables not built from a TableSpec.
OTHER_TABLE_TITLES = {
    "cost": "Table 1 (computational cost column): parameters, MACs and runtime",
    "table4_aioblur_distribution": "Table 4: distribution of the AIO-Blur training set",
    "claims": "Claims scoreboard: the paper's claims checked against this run",
}

STYLE = """
body { font-family: sans-serif; font-size: 14px; margin: 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #bbb; padding: 3px 6px; }
th { background: #eee; position: sticky; top: 0; }
tr:nth-child(even) td { background: #f7f7f7; }
td { white-space: nowrap; }
td.prose { white-space: normal; min-width: 16em; max-width: 36em; }
"""

#: Cells with more characters than this are prose (a claim, a test, a note) and wrap, so a
#: table's last columns (the scoreboard's verdict) stay on screen; numbers never wrap.
PROSE_CELL_CHARS = 40


def report_category(name: str) -> str:
    """The report category (paper section) of a figure or table file name."""
    for prefix in sorted(REPORT_SECTIONS, key=len, reverse=True):
        if name == prefix or name.startswith(f"{prefix}_"):
            return REPORT_SECTIONS[prefix]
    raise ValueError(f"{name}: no paper section in demoe.analysis.report_html.REPORT_SECTIONS")


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


def markdown_table_page(text: str, title: str) -> str:
    """The HTML page of a Markdown document made of pipe tables, headings and notes."""
    if "|" not in text:
        raise ValueError(f"{title}: no Markdown table in the input")
    body = _mark_prose_cells(markdown.markdown(text, extensions=["tables"], output_format="html"))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
