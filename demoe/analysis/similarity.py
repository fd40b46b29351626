"""Weight similarity between models trained on different blurs (paper Sec. 3.1, App. A).

Two measures, applied per layer to the same parameter of two models:

* Filter-wise Pearson correlation (Eq. 3–4): for every output filter ``f`` the flattened
  weights ``w_f^A``, ``w_f^B`` give ``r_f = cov(w_f^A, w_f^B) / (std(w_f^A) std(w_f^B))``;
  the layer score is the mean of ``r_f`` over filters.
* Centred kernel alignment (Eq. 5–6; Kornblith et al., ICML 2019):
  ``CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with
  ``HSIC(K, L) = tr(K H L H) / (n - 1)^2``, ``H`` the centring matrix, ``K``/``L`` Gram
  matrices of the two weight matrices: linear (``X X'``) or RBF
  (``exp(-||x_i - x_j||^2 / (2 sigma^2))``, ``sigma`` = ``sigma_factor`` (default 0.5)
  × the median distance between distinct examples).

Conventions:

* A weight of shape (out, ...) with out > 1 is an ``out × fan_in`` matrix: each output
  filter is a Pearson filter and a CKA example (its fan-in weights the features).
  Vector parameters (LayerNorm scales, biases, ``beta``/``gamma``) are one Pearson
  "filter" of C values, and C examples of one feature for CKA (linear CKA then equals
  the squared Pearson correlation of the two vectors).
* A constant filter (zero variance) has no Pearson correlation: it gets NaN, is left
  out of the layer mean, is counted in ``n_undefined``, and one warning per comparison
  reports the total. A layer whose filters are all constant scores NaN; CKA with fewer
  than 2 examples, a zero centred Gram matrix or a zero RBF bandwidth is NaN too.
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

#: Layer type of each parameter's module inside a NAFBlock (paper Fig. 2 groups).
BLOCK_LAYER_TYPES: dict[str, str] = {
    "conv1": "1x1 conv",
    "conv3": "1x1 conv",
    "conv4": "1x1 conv",
    "conv5": "1x1 conv",
    "conv2": "3x3 conv",  # depthwise
    "norm1": "LayerNorm",
    "norm2": "LayerNorm",
    "sca.1": "SCA",
    "beta": "other",
    "gamma": "other",
}
#: Layer type of the U-Net parts outside the blocks, by the key's first component.
NETWORK_LAYER_TYPES: dict[str, str] = {
    "intro": "3x3 conv",
    "ending": "3x3 conv",
    "ups": "1x1 conv",  # 1×1 conv before PixelShuffle
    "downs": "other",  # 2×2 stride-2 conv
    "mlp_branch": "other",  # router
}
LAYER_TYPES: tuple[str, ...] = ("1x1 conv", "3x3 conv", "LayerNorm", "SCA", "other")
_BN_STATS = ("running_mean", "running_var", "num_batches_tracked")


def canonical_key(key: str) -> str:
    """``key`` in NAFNet layout (DeMoE's ``.modules_list.`` removed)."""
    return key.replace(".modules_list.", ".")


def layer_type(key: str) -> str:
    """One of :data:`LAYER_TYPES` for a NAFNet/DeMoE state-dict key."""
    parts = canonical_key(key).split(".")
    if parts[0] in NETWORK_LAYER_TYPES:
        return NETWORK_LAYER_TYPES[parts[0]]
    if parts[-1] in ("beta", "gamma"):
        return BLOCK_LAYER_TYPES[parts[-1]]
    module = parts[:-1]
    name = "sca.1" if module[-2:] == ["sca", "1"] else module[-1] if module else ""
    return BLOCK_LAYER_TYPES.get(name, "other")


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


def _is_matrix(w: np.ndarray) -> bool:
    return w.ndim >= 2 and w.shape[0] > 1


def pearson_per_filter(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> np.ndarray:
    """Pearson r of every output filter of two same-shape weights (Eq. 3); NaN if constant."""
    a, b = _array(a), _array(b)
    rows_a = a.reshape(a.shape[0], -1) if _is_matrix(a) else a.reshape(1, -1)
    rows_b = b.reshape(rows_a.shape)
    constant = (np.ptp(rows_a, axis=1) == 0) | (np.ptp(rows_b, axis=1) == 0)
    ca = rows_a - rows_a.mean(1, keepdims=True)
    cb = rows_b - rows_b.mean(1, keepdims=True)
    denom = np.sqrt((ca * ca).sum(1) * (cb * cb).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (ca * cb).sum(1) / denom
    return np.where(constant, np.nan, r)


def _examples(w: np.ndarray) -> np.ndarray:
    return w.reshape(w.shape[0], -1) if _is_matrix(w) else w.reshape(-1, 1)


def _hsic(k: np.ndarray, l_: np.ndarray) -> float:
    n = k.shape[0]
    kc = k - k.mean(0, keepdims=True) - k.mean(1, keepdims=True) + k.mean()
    lc = l_ - l_.mean(0, keepdims=True) - l_.mean(1, keepdims=True) + l_.mean()
    return float((kc * lc).sum() / (n - 1) ** 2)


def _cka_from_grams(k: np.ndarray, l_: np.ndarray) -> float:
    if k.shape[0] < 2:
        return float("nan")
    denom = np.sqrt(_hsic(k, k) * _hsic(l_, l_))
    return _hsic(k, l_) / denom if denom > 0 else float("nan")


def linear_cka(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> float:
    """Linear CKA (Eq. 5–6) of two (n, p) matrices whose rows are the same n examples."""
    x, y = _array(x), _array(y)
    return _cka_from_grams(x @ x.T, y @ y.T)


def rbf_cka(
    x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, sigma_factor: float = 0.5
) -> float:
    """RBF-kernel CKA (Eq. 5–6); bandwidth ``sigma_factor`` × median pairwise distance."""
    grams = [_rbf_gram(_array(m), sigma_factor) for m in (x, y)]
    if any(g is None for g in grams):
        return float("nan")
    return _cka_from_grams(*grams)


def _rbf_gram(x: np.ndarray, sigma_factor: float) -> np.ndarray | None:
    sq = np.sum(x * x, 1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    upper = np.sqrt(d2[np.triu_indices(len(x), k=1)])
    sigma = sigma_factor * np.median(upper) if upper.size else 0.0
    return np.exp(-d2 / (2 * sigma**2)) if sigma > 0 else None


def layer_similarity(
    a: torch.Tensor | np.ndarray,
    b: torch.Tensor | np.ndarray,
    measure: Measure = "pearson",
    sigma_factor: float = 0.5,
) -> tuple[float, int, int]:
    """(score, number of filters, number of undefined filters) for one parameter;
    ``sigma_factor`` sets the RBF bandwidth of ``rbf_cka``."""
    a, b = _array(a), _array(b)
    if measure == "pearson":
        r = pearson_per_filter(a, b)
        undefined = int(np.isnan(r).sum())
        score = float(np.nanmean(r)) if undefined < r.size else float("nan")
        return score, r.size, undefined
    x, y = _examples(a), _examples(b)
    if measure == "cka":
        return linear_cka(x, y), x.shape[0], 0
    if measure == "rbf_cka":
        return rbf_cka(x, y, sigma_factor), x.shape[0], 0
    raise ConfigError(f"unknown measure {measure!r}; valid: {', '.join(MEASURES)}")


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
) -> pd.DataFrame:
    """Similarity of every layer of two models with the same architecture.

    ``params="weight"`` compares the ``*.weight`` tensors (conv kernels, LayerNorm and
    linear weights); ``"all"`` adds biases, ``beta``/``gamma`` and other float parameters
    (BatchNorm running statistics are never compared). Returns one row per parameter:
    ``layer`` (NAFNet-layout key), ``layer_type``, ``position``, ``score``,
    ``n_filters``, ``n_undefined``. CheckpointError if keys or shapes differ.
    ``measure``: "pearson" (Eq. 3–4), "cka" (linear) or "rbf_cka" (Eq. 5–6, bandwidth
    ``sigma_factor`` × median pairwise distance).
    """
    if measure not in MEASURES:
        raise ConfigError(f"unknown measure {measure!r}; valid: {', '.join(MEASURES)}")
    a, b = _selected(sd_a, params), _selected(sd_b, params)
    _check_same_layout(a, b)
    rows = []
    for key in a:
        score, n, undefined = layer_similarity(a[key], b[key], measure, sigma_factor)
        rows.append((key, layer_type(key), block_position(key), score, n, undefined))
    table = pd.DataFrame(
        rows, columns=["layer", "layer_type", "position", "score", "n_filters", "n_undefined"]
    )
    total = int(table["n_undefined"].sum())
    if total:
        layers = int((table["n_undefined"] > 0).sum())
        warnings.warn(
            f"{total} constant filters in {layers} layers have no Pearson correlation; "
            "they are left out of the layer means",
            stacklevel=2,
        )
    return table


def expert_similarity(
    state_dict: StateDict, moe_index: int, measure: Measure = "pearson", params: Params = "weight"
) -> pd.DataFrame:
    """Similarity between the experts of MoE block ``moe_index`` (paper Fig. 11).

    Entry (i, j) is the mean layer score (:func:`compare_state_dicts`) of experts i and j;
    rows and columns are labelled by the task of each expert (``demoe.tasks.TASKS``)
    when there are as many experts as tasks, by "expert {e}" otherwise. Constant
    filters are left out of the means as in :func:`compare_state_dicts`, without warning.
    """
    experts = _expert_state_dicts(state_dict, moe_index)
    n = len(experts)
    matrix = np.full((n, n), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n):
            for j in range(i, n):
                table = compare_state_dicts(experts[i], experts[j], measure, params)
                matrix[i, j] = matrix[j, i] = float(table["score"].mean())
    labels = list(TASKS) if n == len(TASKS) else [f"expert {e}" for e in range(n)]
    return pd.DataFrame(matrix, index=labels, columns=labels)


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
