"""Weight similarity between models trained on different blurs (paper Sec. 3.1, App. A).

Both measures are computed *per filter* and then averaged over the filters of a layer
(App. A, Eq. 4: "the mean of these filter correlations"; the CKA paragraph computes CKA
"following the same strategy ... per filter"):

* Pearson (Eq. 3): for output filter ``f`` the flattened weights ``w_f^A``, ``w_f^B``
  (the ``fan_in × kh × kw`` values of that filter) give
  ``r_f = cov(w_f^A, w_f^B) / (std(w_f^A) std(w_f^B))``.
* CKA (Eq. 5–6; Kornblith et al., ICML 2019), our reading of "per filter": the values of
  a filter are the examples, paired across the two models exactly as Pearson pairs them.
  For filter ``f`` with ``n`` values, ``X = w_f^A`` and ``Y = w_f^B`` as ``n × 1``
  matrices (``p = 1`` feature, the weight value; ``n_1 = n_2 = n``); ``K``, ``L`` their
  ``n × n`` Gram matrices; ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with
  ``HSIC(K, L) ∝ tr(K H L H)`` (Eq. 6; its normalisation cancels in the ratio). Linear kernel: ``K = X X'`` (then CKA = ``r_f^2``). RBF kernel
  (the paper's choice, Fig. 9): ``K_ij = exp(-(x_i - x_j)^2 / (2 sigma^2))``.
* RBF bandwidth rule: ``sigma = sigma_factor × median{|x_i - x_j| : i < j}``, the median
  distance between distinct examples, taken separately for ``X`` and ``Y`` of each filter
  (Kornblith et al. Sec. 3: sigma "a fraction of the median distance between examples";
  their reference code takes the median of squared distances including the zero diagonal,
  ours leaves the diagonal out). The paper does not give the fraction;
  ``analysis.similarity.cka_sigma_factor`` does (default 0.5).
* RBF CKA is not 0 for unrelated weights: :func:`random_filter_baseline` is its
  expectation for two independent random filters of ``n`` values (σ factor 0.5: ≈ 0.63
  for n = 4, 0.36 for the 9 taps of a depthwise 3×3 filter, 0.12 for n = 32, 0.02 for
  n = 256), the reference line of Fig. 9.

Conventions:

* A weight of shape (out, ...) with out > 1 has ``out`` filters of ``prod(...)`` values.
  Vector parameters (LayerNorm scales, biases) are one filter of C values.
* The four layer types of App. A: 1×1 conv, 3×3 conv (depthwise in the blocks, full
  for intro/ending), LayerNorm, SCA (the 1×1 conv of the simplified channel attention).
  The up-sampling convs (1×1 before PixelShuffle) are 1×1 convs. Parameters of none of
  the four types are left out (:data:`EXCLUDED`): the 2×2 stride-2 down-sampling convs,
  the residual scales ``beta``/``gamma`` (with ``params="all"``) and the router.
* A filter with no score (a constant filter: zero variance, zero centred Gram matrix
  or zero RBF bandwidth) gets NaN, is left out of the layer mean, is counted in
  ``n_undefined``, and one warning per comparison reports the total. A layer whose
  filters all lack a score scores NaN.
* Keys are compared in NAFNet layout: DeMoE's ``.modules_list.`` is dropped, so a
  NAFNet and a single-expert DeMoE stage can be compared.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
import torch

from demoe.errors import CheckpointError, ConfigError
from demoe.tasks import TASKS

Measure = Literal["pearson", "cka", "rbf_cka"]
MEASURES: tuple[str, ...] = ("pearson", "cka", "rbf_cka")
Params = Literal["weight", "all"]
StateDict = Mapping[str, torch.Tensor | np.ndarray]

#: The four layer types of App. A, in the paper's order.
LAYER_TYPES: tuple[str, ...] = ("1x1 conv", "3x3 conv", "LayerNorm", "SCA")
#: Layer type of each parameter's module inside a NAFBlock.
BLOCK_LAYER_TYPES: dict[str, str] = {
    "conv1": "1x1 conv",
    "conv3": "1x1 conv",
    "conv4": "1x1 conv",
    "conv5": "1x1 conv",
    "conv2": "3x3 conv",  # depthwise
    "norm1": "LayerNorm",
    "norm2": "LayerNorm",
    "sca.1": "SCA",
}
#: Layer type of the U-Net parts outside the blocks, by the key's first component.
NETWORK_LAYER_TYPES: dict[str, str] = {
    "intro": "3x3 conv",
    "ending": "3x3 conv",
    "ups": "1x1 conv",  # 1×1 conv before PixelShuffle
}
#: Parameters of none of the four types (left out of every comparison), and why.
EXCLUDED: dict[str, str] = {
    "downs": "2x2 stride-2 down-sampling conv",
    "beta": "residual scale of a NAFBlock",
    "gamma": "residual scale of a NAFBlock",
    "mlp_branch": "router (absent from NAFNet)",
}
_BN_STATS = ("running_mean", "running_var", "num_batches_tracked")
#: Largest number of Gram-matrix entries held at once by the batched per-filter CKA.
_GRAM_BUDGET = 4_000_000


def canonical_key(key: str) -> str:
    """``key`` in NAFNet layout (DeMoE's ``.modules_list.`` removed)."""
    return key.replace(".modules_list.", ".")


def layer_type(key: str) -> str | None:
    """One of :data:`LAYER_TYPES` for a NAFNet/DeMoE state-dict key, None if excluded."""
    parts = canonical_key(key).split(".")
    if parts[0] in EXCLUDED or parts[-1] in EXCLUDED:
        return None
    if parts[0] in NETWORK_LAYER_TYPES:
        return NETWORK_LAYER_TYPES[parts[0]]
    module = parts[:-1]
    name = "sca.1" if module[-2:] == ["sca", "1"] else module[-1] if module else ""
    return BLOCK_LAYER_TYPES.get(name)


def block_position(key: str) -> str:
    """Human-readable place of a key, 1-based: "encoder 1 block 2", "MoE 3 expert 5"…"""
    k = canonical_key(key)
    patterns = (
        (r"encoders\.(\d+)\.(\d+)\.", "encoder {} block {}"),
        (r"decoders\.(\d+)\.(\d+)\.", "decoder {} block {}"),
        (r"middle_blks\.(\d+)\.", "middle block {}"),
        (r"experts\.(\d+)\.experts\.(\d+)\.", "MoE {} expert {}"),
        (r"downs\.(\d+)\.", "down {}"),
        (r"ups\.(\d+)\.", "up {}"),
    )
    for pattern, template in patterns:
        match = re.match(pattern, k)
        if match:
            return template.format(*(int(g) + 1 for g in match.groups()))
    head = k.split(".")[0]
    return "router" if head == "mlp_branch" else head


def _array(t: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach().to("cpu", torch.float64).numpy()
    return np.asarray(t, dtype=np.float64)


def filters(w: torch.Tensor | np.ndarray) -> np.ndarray:
    """(filters, values per filter): one row per output filter; a vector is one filter."""
    w = _array(w)
    return w.reshape(w.shape[0], -1) if w.ndim >= 2 and w.shape[0] > 1 else w.reshape(1, -1)


def _paired_filters(
    a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The filters of ``a`` (:func:`filters`) and ``b``'s values in the same rows."""
    rows_a = filters(a)
    return rows_a, _array(b).reshape(rows_a.shape)


def pearson_per_filter(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> np.ndarray:
    """Pearson r of every output filter of two same-shape weights (Eq. 3); NaN if constant."""
    rows_a, rows_b = _paired_filters(a, b)
    constant = (np.ptp(rows_a, axis=1) == 0) | (np.ptp(rows_b, axis=1) == 0)
    ca = rows_a - rows_a.mean(1, keepdims=True)
    cb = rows_b - rows_b.mean(1, keepdims=True)
    denom = np.sqrt((ca * ca).sum(1) * (cb * cb).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (ca * cb).sum(1) / denom
    return np.where(constant, np.nan, r)


def _median_distance(x: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """Median distance between distinct examples of each (n, p) matrix of ``x``; ``d2``
    holds their squared distances (diagonal 0)."""
    batch, n, p = x.shape
    if p == 1:  # scalar examples (per-filter CKA): the n(n - 1) / 2 gaps directly
        rows, cols = np.triu_indices(n, k=1)
        return np.median(np.abs(x[:, cols, 0] - x[:, rows, 0]), axis=1)
    # Sorted, each row's n² entries are the n zeros of the diagonal, then every pair
    # twice: the middle of the m = n(n - 1) / 2 pairs sits at n + m - 1 and n + m.
    m = n * (n - 1) // 2
    middle = np.partition(d2.reshape(batch, -1), (n + m - 1, n + m), axis=1)
    return (np.sqrt(middle[:, n + m - 1]) + np.sqrt(middle[:, n + m])) / 2


def _grams(x: np.ndarray, kernel: str, sigma_factor: float) -> np.ndarray:
    """Gram matrices (B, n, n) of a batch of example matrices ``x`` (B, n, p), n ≥ 2; an
    RBF Gram matrix whose bandwidth is zero is all NaN."""
    if kernel == "linear":  # centred features: K = (Hx)(Hx)' = HKH, no cancellation later
        xc = x - x.mean(axis=1, keepdims=True)
        return xc @ xc.transpose(0, 2, 1)
    n = x.shape[1]
    if x.shape[2] == 1:
        d2 = (x - x.transpose(0, 2, 1)) ** 2
    else:
        sq = np.sum(x * x, axis=2)
        d2 = np.maximum(sq[:, :, None] + sq[:, None, :] - 2 * x @ x.transpose(0, 2, 1), 0.0)
        d2[:, np.arange(n), np.arange(n)] = 0.0
    sigma = sigma_factor * _median_distance(x, d2)
    with np.errstate(divide="ignore", invalid="ignore"):
        d2 /= -2 * sigma[:, None, None] ** 2
    grams = np.exp(d2, out=d2)
    grams[sigma == 0] = np.nan
    return grams


def _hsic(k: np.ndarray, l_: np.ndarray) -> np.ndarray:
    """``tr(K H L H)`` of batches of symmetric (B, n, n) Gram matrices (Eq. 6 without its
    normalisation, which cancels in CKA), without forming ``H K H``:
    ``sum(K ∘ L) - 2 (K1)'(L1) / n + (1'K1)(1'L1) / n²``."""
    n = k.shape[1]
    rows_k, rows_l = k.sum(2), l_.sum(2)
    return (
        np.einsum("bij,bij->b", k, l_)
        - 2 * np.einsum("bi,bi->b", rows_k, rows_l) / n
        + rows_k.sum(1) * rows_l.sum(1) / n**2
    )


def _batched_cka(x: np.ndarray, y: np.ndarray, kernel: str, sigma_factor: float) -> np.ndarray:
    """CKA (Eq. 5–6) of every pair ``x[b]``, ``y[b]`` of (n, p) example matrices; NaN
    where it is undefined (fewer than 2 examples, zero centred Gram, zero bandwidth)."""
    n = x.shape[1]
    if n < 2:
        return np.full(len(x), np.nan)
    out = np.empty(len(x))
    step = max(1, _GRAM_BUDGET // (n * n))
    for start in range(0, len(x), step):
        k = _grams(x[start : start + step], kernel, sigma_factor)
        l_ = _grams(y[start : start + step], kernel, sigma_factor)
        denom = np.sqrt(np.maximum(_hsic(k, k) * _hsic(l_, l_), 0.0))
        # Below ~1e-10 of the uncentred scale the centred Gram is rounding noise: no CKA.
        scale = np.sqrt(np.einsum("bij,bij->b", k, k) * np.einsum("bij,bij->b", l_, l_))
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + step] = np.where(
                denom > 1e-10 * scale, _hsic(k, l_) / denom, np.nan
            )
    return out


def linear_cka(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> float:
    """Linear CKA (Eq. 5–6) of two (n, p) matrices whose rows are the same n examples."""
    return float(_batched_cka(_array(x)[None], _array(y)[None], "linear", 0.0)[0])


def rbf_cka(
    x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, sigma_factor: float = 0.5
) -> float:
    """RBF-kernel CKA (Eq. 5–6) of two (n, p) matrices; bandwidth ``sigma_factor`` × the
    median distance between distinct examples, per matrix."""
    return float(_batched_cka(_array(x)[None], _array(y)[None], "rbf", sigma_factor)[0])


def cka_per_filter(
    a: torch.Tensor | np.ndarray,
    b: torch.Tensor | np.ndarray,
    kernel: Literal["linear", "rbf"] = "rbf",
    sigma_factor: float = 0.5,
) -> np.ndarray:
    """CKA of every output filter of two same-shape weights: the filter's values are
    the examples (``X``, ``Y`` of shape ``n × 1``, see the module docstring)."""
    rows_a, rows_b = _paired_filters(a, b)
    return _batched_cka(rows_a[:, :, None], rows_b[:, :, None], kernel, sigma_factor)


def scores_per_filter(
    a: torch.Tensor | np.ndarray,
    b: torch.Tensor | np.ndarray,
    measure: Measure = "pearson",
    sigma_factor: float = 0.5,
) -> np.ndarray:
    """Per-filter scores of ``measure`` (Eq. 3, or Eq. 5–6 per filter); NaN where undefined."""
    if measure == "pearson":
        return pearson_per_filter(a, b)
    if measure == "cka":
        return cka_per_filter(a, b, "linear")
    if measure == "rbf_cka":
        return cka_per_filter(a, b, "rbf", sigma_factor)
    raise ConfigError(f"unknown measure {measure!r}; valid: {', '.join(MEASURES)}")


def layer_score(scores: np.ndarray) -> tuple[float, int]:
    """A layer's score from its per-filter ``scores``: their mean without the undefined
    (NaN) ones (Eq. 4), NaN when none is defined; and how many are undefined."""
    undefined = int(np.isnan(scores).sum())
    score = float(np.nanmean(scores)) if undefined < scores.size else float("nan")
    return score, undefined


def random_filter_baseline(
    n_values: int,
    measure: Measure = "rbf_cka",
    sigma_factor: float = 0.5,
    draws: int = 200,
    seed: int = 0,
) -> float:
    """Mean per-filter score of two *unrelated* random filters of ``n_values`` values.

    Both filters are i.i.d. standard normal, drawn ``draws`` times with ``seed``. A
    layer of unrelated random weights of the same shape scores this on average, since
    its score is the mean over filters of this size. Pearson and linear CKA are ≈ 0
    (linear CKA ≈ 1 / (n - 1)); RBF CKA is far from 0 for small filters.
    """
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((2, draws, n_values))
    scores = scores_per_filter(a, b, measure, sigma_factor)
    return float(np.nanmean(scores)) if np.isfinite(scores).any() else float("nan")


def _selected(sd: StateDict, params: Params) -> dict[str, np.ndarray]:
    out = {}
    for key, value in sd.items():
        name = key.split(".")[-1]
        if name in _BN_STATS or (params == "weight" and name != "weight"):
            continue
        if isinstance(value, torch.Tensor) and not value.is_floating_point():
            continue
        out[canonical_key(key)] = _array(value)
    return out


def _check_same_layout(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    only_a = [k for k in a if k not in b]
    only_b = [k for k in b if k not in a]
    shapes = [f"{k} {a[k].shape} vs {b[k].shape}" for k in a if k in b and a[k].shape != b[k].shape]
    problems = []
    if only_a:
        problems.append(f"only in the first: {only_a[:3]}")
    if only_b:
        problems.append(f"only in the second: {only_b[:3]}")
    if shapes:
        problems.append(f"shapes differ: {shapes[:3]}")
    if problems:
        raise CheckpointError("state dicts do not match: " + "; ".join(problems))


def compare_state_dicts(
    sd_a: StateDict,
    sd_b: StateDict,
    measure: Measure = "pearson",
    params: Params = "weight",
    sigma_factor: float = 0.5,
    warn: bool = True,
) -> pd.DataFrame:
    """Similarity of every layer of two models with the same architecture.

    ``params="weight"`` compares the ``*.weight`` tensors (conv kernels, LayerNorm
    weights); ``"all"`` adds biases and other float parameters (BatchNorm running
    statistics are never compared). Parameters of none of the four layer types
    (:data:`EXCLUDED`) are left out. Returns one row per parameter: ``layer``
    (NAFNet-layout key), ``layer_type``, ``position``, ``score`` (mean per-filter score,
    Eq. 4), ``n_filters``, ``filter_size`` (values per filter), ``n_undefined``.
    CheckpointError if keys or shapes differ. ``measure``: "pearson" (Eq. 3),
    "cka" (linear) or "rbf_cka" (Eq. 5–6, bandwidth ``sigma_factor`` × median distance).
    ``warn``: one warning when filters have no score.
    """
    if measure not in MEASURES:
        raise ConfigError(f"unknown measure {measure!r}; valid: {', '.join(MEASURES)}")
    a, b = _selected(sd_a, params), _selected(sd_b, params)
    _check_same_layout(a, b)
    rows = []
    for key in a:
        kind = layer_type(key)
        if kind is None:
            continue
        scores = scores_per_filter(a[key], b[key], measure, sigma_factor)
        score, undefined = layer_score(scores)
        size = filters(a[key]).shape[1]
        rows.append((key, kind, block_position(key), score, scores.size, size, undefined))
    columns = ["layer", "layer_type", "position", "score", "n_filters", "filter_size"]
    table = pd.DataFrame(rows, columns=[*columns, "n_undefined"])
    total = int(table["n_undefined"].sum())
    if total and warn:
        layers = int((table["n_undefined"] > 0).sum())
        warnings.warn(
            f"{total} constant filters in {layers} layers have no {measure} score; "
            "they are left out of the layer means",
            stacklevel=2,
        )
    return table


def expert_pair_scores(
    state_dict: StateDict,
    moe_index: int,
    measure: Measure = "pearson",
    params: Params = "weight",
    sigma_factor: float = 0.5,
) -> pd.DataFrame:
    """Layer scores of every pair of experts of MoE block ``moe_index`` (paper Fig. 11).

    Long format: ``expert_a``, ``expert_b`` (task names, ``demoe.tasks.TASKS``, when
    there are as many experts as tasks, "expert {e}" otherwise; a < b) and the columns
    of :func:`compare_state_dicts`. Filters without a score are left out silently.
    """
    experts = _expert_state_dicts(state_dict, moe_index)
    n = len(experts)
    labels = list(TASKS) if n == len(TASKS) else [f"expert {e}" for e in range(n)]
    tables = [
        compare_state_dicts(
            experts[i], experts[j], measure, params, sigma_factor, warn=False
        ).assign(expert_a=labels[i], expert_b=labels[j])
        for i in range(n)
        for j in range(i + 1, n)
    ]
    return pd.concat(tables, ignore_index=True)


def expert_similarity(
    state_dict: StateDict, moe_index: int, measure: Measure = "pearson", params: Params = "weight"
) -> pd.DataFrame:
    """Expert × expert matrix of MoE block ``moe_index``: entry (i, j) is the mean layer
    score of experts i and j (:func:`expert_pair_scores`); the diagonal is 1."""
    scores = expert_pair_scores(state_dict, moe_index, measure, params)
    labels = list(dict.fromkeys([*scores["expert_a"], *scores["expert_b"]]))
    means = scores.groupby(["expert_a", "expert_b"])["score"].mean()
    matrix = pd.DataFrame(np.eye(len(labels)), index=labels, columns=labels)
    for (a, b), value in means.items():
        matrix.loc[a, b] = matrix.loc[b, a] = value
    return matrix


def _expert_state_dicts(state_dict: StateDict, moe_index: int) -> list[dict]:
    pattern = re.compile(rf"experts\.{moe_index}\.experts\.(\d+)\.(.+)")
    experts: dict[int, dict] = {}
    for key, value in state_dict.items():
        match = pattern.fullmatch(key)
        if match:
            experts.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if not experts:
        blocks = sorted(
            {int(m.group(1)) for k in state_dict if (m := re.match(r"experts\.(\d+)\.", k))}
        )
        raise CheckpointError(f"no MoE block {moe_index} in the state dict (MoE blocks: {blocks})")
    return [experts[e] for e in sorted(experts)]
