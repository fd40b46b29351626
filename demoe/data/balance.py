"""AIO-Blur balancing (paper Table 4, Sec. 4 and Fig. 10), as pure functions.

Table 4 rebalances the five training sets towards ~4k pairs each: RealBlur-J
is kept as is, ReLoBlur, GoPro and DPDD are repeated, and LOLBlur is
subsampled by the MSE rule of Fig. 10: the MSE between the blurry and sharp
image of every training pair is histogrammed into four equal-width bins, the
last (highest-MSE) bin is dropped and 1400 pairs are drawn at random from each
remaining bin (3 x 1400 = 4200).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from demoe.errors import ConfigError

#: Training-set sizes before and after balancing in the paper (Table 4).
PAPER_ORIGINAL: dict[str, int] = {
    "realblur_j": 3758,
    "reloblur": 2010,
    "gopro": 2103,
    "dpdd": 350,
    "lolblur": 10200,
}
PAPER_FINAL: dict[str, int] = {
    "realblur_j": 3758,
    "reloblur": 4018,
    "gopro": 4206,
    "dpdd": 3850,
    "lolblur": 4200,
}

BALANCE_MODES: tuple[str, ...] = ("scale", "absolute")


@dataclass(frozen=True)
class Plan:
    """What balancing does to one dataset: ``keep``, ``repeat`` or ``mse_bins``."""

    dataset: str
    original: int
    target: int
    action: str


def scaled_target(n: int, reference: int, final: int) -> int:
    """Target for ``n`` found pairs when the paper turned ``reference`` into ``final``.

    Proportional scaling keeps Table 4's ratio (x2 for GoPro, x11 for DPDD,
    x0.41 for LOLBlur); it equals ``final`` when ``n == reference``.
    """
    if n <= 0:
        return 0
    return max(1, round(n * final / reference))


def plan_balance(
    counts: dict[str, int],
    final: dict[str, int],
    reference: dict[str, int],
    mode: str = "scale",
) -> dict[str, Plan]:
    """Per-dataset plan: target size and action (Table 4).

    ``mode="scale"`` scales each target by ``counts / reference``;
    ``mode="absolute"`` uses ``final`` as is. Datasets without a target are kept.
    """
    if mode not in BALANCE_MODES:
        raise ConfigError(f"data.balance.mode must be one of {BALANCE_MODES}, got {mode!r}")
    plans = {}
    for name, n in counts.items():
        if name not in final:
            target = n
        elif mode == "absolute":
            target = final[name]
        else:
            if name not in reference:
                raise ConfigError(f"data.balance.reference.{name} is needed in 'scale' mode")
            target = scaled_target(n, reference[name], final[name])
        action = "keep" if target == n else ("repeat" if target > n else "mse_bins")
        plans[name] = Plan(name, n, target, action)
    return plans


def repeat_indices(n: int, target: int) -> np.ndarray:
    """Indices ``0..n-1`` repeated cyclically up to ``target`` (2010 -> 4018 etc.)."""
    if n <= 0:
        raise ValueError("cannot repeat an empty dataset")
    return np.arange(target) % n


def pair_mse(blurry: np.ndarray, sharp: np.ndarray) -> float:
    """Mean squared error of two images in [0, 1] (over pixels and channels)."""
    if blurry.shape != sharp.shape:
        raise ValueError(f"shape mismatch {blurry.shape} vs {sharp.shape}")
    diff = blurry.astype(np.float64) - sharp.astype(np.float64)
    return float(np.mean(diff * diff))


@dataclass
class MseSelection:
    """Result of the Fig. 10 rule; ``indices`` index the input MSE array (sorted)."""

    edges: list[float]
    counts: list[int]
    kept_bins: list[int]
    quota: list[int]
    drawn: list[int]
    bin_of: np.ndarray = field(repr=False)
    indices: np.ndarray = field(repr=False)

    @property
    def shortfall(self) -> int:
        """Pairs the quota asked for that a too-small bin could not give."""
        return int(sum(self.quota) - sum(self.drawn))

    def summary(self) -> dict:
        return {
            "edges": self.edges,
            "counts": self.counts,
            "kept_bins": self.kept_bins,
            "quota": self.quota,
            "drawn": self.drawn,
            "shortfall": self.shortfall,
        }


def mse_bins(mse: np.ndarray, n_bins: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Equal-width histogram edges over ``[min, max]`` and each value's bin (0-based).

    The maximum falls in the last bin (edges are right-closed there, as numpy's).
    """
    mse = np.asarray(mse, dtype=np.float64)
    if mse.size == 0:
        raise ValueError("no MSE values to bin")
    edges = np.histogram_bin_edges(mse, bins=n_bins)
    bin_of = np.clip(np.searchsorted(edges, mse, side="right") - 1, 0, n_bins - 1)
    return edges, bin_of


def mse_bin_select(
    mse: np.ndarray, target: int, n_bins: int = 4, drop_last: int = 1, seed: int = 0
) -> MseSelection:
    """Fig. 10 rule: drop the ``drop_last`` highest-MSE bins, draw ``target`` evenly from the rest.

    Each kept bin's quota is ``target // kept`` (the remainder goes to the
    lowest bins); a bin smaller than its quota gives all it has and the
    shortfall is recorded, never hidden. Draws without replacement, seeded.
    """
    if not 0 <= drop_last < n_bins:
        raise ConfigError(f"drop_last must be in [0, {n_bins}), got {drop_last}")
    edges, bin_of = mse_bins(mse, n_bins)
    kept = list(range(n_bins - drop_last))
    base, extra = divmod(int(target), len(kept))
    quota = [base + (1 if i < extra else 0) for i in range(len(kept))]
    rng = np.random.default_rng(seed)
    chosen, drawn = [], []
    for b, q in zip(kept, quota, strict=True):
        members = np.flatnonzero(bin_of == b)
        take = min(q, members.size)
        chosen.append(rng.choice(members, size=take, replace=False))
        drawn.append(int(take))
    counts = np.bincount(bin_of, minlength=n_bins)
    return MseSelection(
        edges=[float(e) for e in edges],
        counts=[int(c) for c in counts],
        kept_bins=kept,
        quota=quota,
        drawn=drawn,
        bin_of=bin_of,
        indices=np.sort(np.concatenate(chosen)).astype(np.int64),
    )
