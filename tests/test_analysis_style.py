"""Figure style: fixed dataset colours and atomic PDF+PNG saving."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from demoe.analysis.style import DATASET_COLORS, apply_style, save_figure  # noqa: E402
from demoe.tasks import DATASETS  # noqa: E402


def test_one_distinct_colour_per_dataset() -> None:
    assert list(DATASET_COLORS) == list(DATASETS)
    assert len(set(DATASET_COLORS.values())) == len(DATASETS)


def test_save_figure_writes_pdf_and_png(tmp_path) -> None:
    apply_style()
    fig, ax = plt.subplots(figsize=(2, 2))
    for name, colour in DATASET_COLORS.items():
        ax.plot([0, 1], [0, 1], color=colour, label=name)
    written = save_figure(fig, tmp_path / "fig", tmp_path / "sub" / "other.png")
    assert written == [tmp_path / "fig.pdf", tmp_path / "fig.png", tmp_path / "sub" / "other.png"]
    assert (tmp_path / "fig.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "fig.png").read_bytes().startswith(b"\x89PNG")
    first = (tmp_path / "fig.pdf").read_bytes()
    save_figure(fig, tmp_path / "fig.pdf")
    assert (tmp_path / "fig.pdf").read_bytes() == first  # no creation date: byte-stable
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["fig.pdf", "fig.png", "sub"]  # no temporary files remain
    plt.close(fig)
