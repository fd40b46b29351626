"""Two runs side by side: every results table and every claim, with differences.

Each CSV of ``<results>/tables/`` is compared cell by cell: a results table
(:data:`demoe.analysis.tables.LONG_COLUMNS`) by its rows (method, origin, dataset) and
metrics, with the interval columns; another table (``cost.csv``, Table 4's distribution)
by its text columns as the row key and its numeric columns as metrics, ``X_ci_low`` and
``X_ci_high`` being the interval of ``X`` (or of ``X_<unit>``, as cost.csv's runtime); the scoreboard (``claims.csv``) by claim id,
with the two verdicts.

Whether a difference exceeds its noise is judged only where both runs give an interval:
it does when the two intervals are disjoint. For two 95 % intervals that is a stricter
test than a 5 % test of the difference (with equal standard errors, disjoint intervals
mean the difference is about 2.77 standard errors from zero, a two-sided level near
0.6 %; Schenker & Gentleman, Am. Stat. 2001), so a flagged difference is very unlikely
to be noise, while a real but small one may be left "within noise".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from demoe import paths
from demoe.analysis.claims import SCOREBOARD_COLUMNS
from demoe.analysis.tables import LONG_COLUMNS
from demoe.errors import DataError
from demoe.io.atomic import write_text

#: The scoreboard's file name (``paths.table(results, CLAIMS)``).
CLAIMS = "claims"
#: Columns that make a results table's row key (the rest of :data:`LONG_COLUMNS` are values).
LONG_KEY: tuple[str, ...] = ("method", "origin", "dataset")
#: How a cell changed from run A to run B (column ``change``).
SAME, BEYOND, WITHIN, NOT_JUDGED = "same", "beyond noise", "within noise", "not judged"
ONLY_A, ONLY_B = "only in A", "only in B"
CHANGES: tuple[str, ...] = (SAME, BEYOND, WITHIN, NOT_JUDGED, ONLY_A, ONLY_B)
#: The two runs' values, their difference (b - a) and intervals, in every comparison.
VALUE_COLUMNS: list[str] = [
    "a",
    "b",
    "difference",
    "a_ci_low",
    "a_ci_high",
    "b_ci_low",
    "b_ci_high",
]
#: The cell comparison (``tables.csv``).
TABLE_COLUMNS: list[str] = [
    "table",
    "row",
    "metric",
    *VALUE_COLUMNS,
    "a_note",
    "b_note",
    "change",
]
#: The claim comparison (``claims.csv``): this run's value and verdict in A and B.
CLAIM_COLUMNS: list[str] = [
    "id",
    "claim",
    "statistic",
    *VALUE_COLUMNS,
    "change",
    "a_verdict",
    "b_verdict",
    "verdict_changed",
]
#: Files written by :func:`write_comparison` into the output folder.
OUTPUT_FILES: tuple[str, ...] = ("tables.csv", "claims.csv", "compare.md")


@dataclass
class Comparison:
    """The cell and claim comparisons of runs ``a`` and ``b``, and the tables that could
    not be compared (file name → reason)."""

    a: Path
    b: Path
    cells: pd.DataFrame
    claims: pd.DataFrame
    skipped: dict[str, str] = field(default_factory=dict)


def tables_folder(results: str | Path) -> Path:
    """``<results>/tables``; DataError if the run has none."""
    folder = Path(paths.table(results, CLAIMS)).parent
    if not folder.is_dir():
        raise DataError(f"{results}: no tables/ folder (not a results folder of a run)")
    return folder


def change(a: float, b: float, a_ci: tuple[float, float], b_ci: tuple[float, float]) -> str:
    """How a value moved from ``a`` to ``b`` (:data:`CHANGES`; the module docstring gives
    the noise criterion, judged only where both values and both intervals are finite)."""
    if _same(a, b):
        return SAME
    if not all(map(math.isfinite, (a, b, *a_ci, *b_ci))):
        return NOT_JUDGED
    disjoint = a_ci[1] < b_ci[0] or b_ci[1] < a_ci[0]
    return BEYOND if disjoint else WITHIN


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def long_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """A table's cells, indexed by (row, metric), with columns value, ci_low, ci_high, note."""
    if set(LONG_COLUMNS) <= set(frame.columns):
        key = frame[list(LONG_KEY)].fillna("").astype(str)
        out = pd.DataFrame(
            {
                "row": key.apply(lambda r: " · ".join(p for p in r if p), axis=1),
                "metric": frame["metric"].astype(str),
                "value": pd.to_numeric(frame["value"], errors="coerce"),
                "ci_low": pd.to_numeric(frame["ci_low"], errors="coerce"),
                "ci_high": pd.to_numeric(frame["ci_high"], errors="coerce"),
                "note": frame["note"].map(lambda v: "" if pd.isna(v) else str(v)),
            }
        )
    else:
        out = _wide_cells(frame)
    if out.duplicated(["row", "metric"]).any():
        raise DataError("rows are not unique by their key")
    return out.set_index(["row", "metric"])


def _wide_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """A table with text key columns and numeric metric columns, melted to cells."""
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    keys = [c for c in frame.columns if c not in numeric]
    if not keys:
        raise DataError("no text column to name its rows")
    intervals = _interval_columns(numeric)
    bounds = {c for pair in intervals.values() for c in pair}
    row = frame[keys].fillna("").astype(str).apply(lambda r: " · ".join(p for p in r if p), axis=1)
    parts = []
    for metric in (c for c in numeric if c not in bounds):
        low, high = intervals.get(metric, ("", ""))
        has_ci = metric in intervals
        parts.append(
            pd.DataFrame(
                {
                    "row": row,
                    "metric": metric,
                    "value": frame[metric].astype(float),
                    "ci_low": frame[low].astype(float) if has_ci else math.nan,
                    "ci_high": frame[high].astype(float) if has_ci else math.nan,
                    "note": "",
                }
            )
        )
    if not parts:
        raise DataError("no numeric column to compare")
    return pd.concat(parts, ignore_index=True)


def _interval_columns(columns: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Metric → its (low, high) columns: ``S_ci_low``/``S_ci_high`` belong to the column
    named ``S``, or else to the one column whose name starts with ``S_`` (cost.csv's
    ``runtime_ci_*`` to ``runtime_ms``)."""
    out = {}
    for low in (c for c in columns if c.endswith("_ci_low")):
        stem = low.removesuffix("_ci_low")
        high = f"{stem}_ci_high"
        owners = [stem] if stem in columns else [c for c in columns if c.startswith(f"{stem}_")]
        owners = [c for c in owners if c not in (low, high)]
        if high in columns and len(owners) == 1:
            out[owners[0]] = (low, high)
    return out


def compare_cells(table: str, a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The :data:`TABLE_COLUMNS` rows of one table's cells (``long_cells`` of each run),
    in run A's order with B's extra cells after."""
    keys = [*a.index, *(k for k in b.index if k not in a.index)]
    rows = []
    for key in keys:
        ca = a.loc[key] if key in a.index else None
        cb = b.loc[key] if key in b.index else None
        va, vb = (math.nan if c is None else float(c["value"]) for c in (ca, cb))
        ci_a, ci_b = (_ci(c) for c in (ca, cb))
        if ca is None or cb is None:
            kind = ONLY_B if ca is None else ONLY_A
        else:
            kind = change(va, vb, ci_a, ci_b)
        rows.append([table, *key, va, vb, vb - va, *ci_a, *ci_b, _note(ca), _note(cb), kind])
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _ci(cell: pd.Series | None) -> tuple[float, float]:
    if cell is None:
        return (math.nan, math.nan)
    return (float(cell["ci_low"]), float(cell["ci_high"]))


def _note(cell: pd.Series | None) -> str:
    return "" if cell is None else str(cell["note"])


def compare_claims(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The :data:`CLAIM_COLUMNS` rows of two scoreboards, by claim id."""
    for frame in (a, b):
        missing = [c for c in SCOREBOARD_COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"{CLAIMS}.csv: missing columns {missing}")
    a, b = (f.set_index("id", drop=False) for f in (a, b))
    ids = [*a.index, *(i for i in b.index if i not in a.index)]
    rows = []
    for claim_id in ids:
        ra = a.loc[claim_id] if claim_id in a.index else None
        rb = b.loc[claim_id] if claim_id in b.index else None
        first = ra if ra is not None else rb
        va, vb = (math.nan if r is None else float(r["this_run"]) for r in (ra, rb))
        ci_a, ci_b = (_ci(r) for r in (ra, rb))
        verdicts = ["" if r is None else str(r["verdict"]) for r in (ra, rb)]
        if ra is None or rb is None:
            kind = ONLY_B if ra is None else ONLY_A
        else:
            kind = change(va, vb, ci_a, ci_b)
        rows.append(
            [
                claim_id,
                first["claim"],
                first["statistic"],
                va,
                vb,
                vb - va,
                *ci_a,
                *ci_b,
                kind,
                *verdicts,
                ra is not None and rb is not None and verdicts[0] != verdicts[1],
            ]
        )
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def compare_runs(a: str | Path, b: str | Path) -> Comparison:
    """Compare every table and the scoreboard of results folders ``a`` and ``b``."""
    folders = tables_folder(a), tables_folder(b)
    names = sorted({p.stem for folder in folders for p in folder.glob("*.csv")} - {CLAIMS})
    cells, skipped = [], {}
    for name in names:
        files = [folder / f"{name}.csv" for folder in folders]
        try:
            a_cells, b_cells = (_read_cells(f) for f in files)
        except DataError as exc:
            skipped[f"{name}.csv"] = str(exc)
            continue
        cells.append(compare_cells(name, a_cells, b_cells))
    claims = [_read_claims(folder / f"{CLAIMS}.csv") for folder in folders]
    return Comparison(
        Path(a),
        Path(b),
        pd.concat(cells, ignore_index=True) if cells else pd.DataFrame(columns=TABLE_COLUMNS),
        compare_claims(*claims),
        skipped,
    )


def _read_cells(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=["value", "ci_low", "ci_high", "note"]).set_index(
            pd.MultiIndex.from_tuples([], names=["row", "metric"])
        )
    try:
        return long_cells(pd.read_csv(path))
    except DataError as exc:
        raise DataError(f"{path.name} {exc}") from exc


def _read_claims(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=SCOREBOARD_COLUMNS)
    return pd.read_csv(path, keep_default_na=False, na_values=["", "nan", "NaN"])


def markdown(comparison: Comparison) -> str:
    """The comparison as Markdown: per table the cells that differ (identical ones
    counted), then the claims."""
    lines = [
        f"# Run comparison: B = `{comparison.b}` against A = `{comparison.a}`",
        "",
        "Difference = B − A. *Beyond noise*: both runs give an interval and the two are "
        "disjoint (for 95 % intervals, stricter than a 5 % test); *within noise*: they "
        "overlap; *not judged*: a run gives no interval (or no value).",
        "",
    ]
    for table, group in comparison.cells.groupby("table", sort=False):
        differ = group[group["change"] != SAME]
        lines += [f"## {table}", ""]
        if not differ.empty:
            lines += _md_table(
                ["row", "metric", "A", "B", "B − A", "change"],
                [
                    [r.row, r.metric, _num(r.a), _num(r.b), _diff(r.difference), r.change]
                    for r in differ.itertuples()
                ],
            )
        lines += [f"{len(group) - len(differ)} of {len(group)} cells identical.", ""]
    for name, reason in comparison.skipped.items():
        lines += [f"## {Path(name).stem}", "", f"Not compared: {reason}.", ""]
    lines += ["## Claims", ""]
    if comparison.claims.empty:
        return "\n".join([*lines, "No scoreboard in either run.", ""])
    lines += _md_table(
        ["claim", "A", "B", "B − A", "change", "verdict A", "verdict B"],
        [
            [
                r.id,
                _num(r.a),
                _num(r.b),
                _diff(r.difference),
                r.change,
                r.a_verdict,
                f"**{r.b_verdict}**" if r.verdict_changed else r.b_verdict,
            ]
            for r in comparison.claims.itertuples()
        ],
    )
    changed = int(comparison.claims["verdict_changed"].sum())
    return "\n".join([*lines, f"{changed} verdict(s) changed (in bold).", ""])


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    cells = [[str(c).replace("|", "\\|") for c in row] for row in rows]
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in cells),
        "",
    ]


def _num(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.4g}"


def _diff(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:+.3g}"


def write_comparison(comparison: Comparison, out: str | Path) -> list[Path]:
    """Write :data:`OUTPUT_FILES` into ``out`` (atomically); returns their paths."""
    folder = Path(out)
    written = [folder / name for name in OUTPUT_FILES]
    write_text(written[0], comparison.cells.to_csv(index=False))
    write_text(written[1], comparison.claims.to_csv(index=False))
    write_text(written[2], markdown(comparison))
    return written
