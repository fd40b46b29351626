"""How much does the embedded miniature deblur? PSNR gain over the blurry input per test set.

For the small profile (config/config.yaml, ``train.profile: small``), each grid point
writes a synthetic AIO-Blur with the blur magnitudes of the generators scaled (and/or
overridden), builds the manifests and the decoded store as the DAG does, trains the
stage-1 network the default trains (``baseline_aio``, resolved by
:func:`demoe.experiments.catalogue.resolve_dict` with the profile, then the grid's
learning rate, batch, crop and steps), optionally fine-tunes the stage-2 DeMoE from it
(``demoe``: its ``init.source`` pointed at that stage-1 model), and evaluates on every
test pair of the five AIO-Blur sets: PSNR of the blurry input, of the restoration, the
gain, and the router's accuracy. It also reports how much of the input's loss is blur:
the same test pairs generated with zero blur magnitude (noise, JPEG and darkness kept)
give the "no-blur" PSNR; ``blur_cost = noblur - input`` must stay >= 2 dB for a set to be
clearly blurred. PSNR here is the plain whole-image PSNR (no ECC alignment for
RealBlur-J, unlike the DAG's evaluation), so absolute numbers differ slightly from
results/eval; gains are comparable.

Nothing in demoe/ is edited: the study patches ``writer.RECIPES`` and ``writer.SCENES``
(``--recipe-override``, ``--scene-override``) in this process only; data trees and runs
are cached under ``--work`` by their content.

    nice -n 10 python benchmarks/study_miniature_deblurring.py --out /tmp/study.csv \\
        --blur-scale 1 0.5 --lr 1e-3 4e-3 --schedule 4x64x600 8x64x300 --stage2
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import inspect
import json
import os
import time
from collections import defaultdict
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
import yaml

from demoe import paths
from demoe.data.build import build_from_config
from demoe.data.manifest import read_manifest
from demoe.data.store import build_store
from demoe.data.synthetic import writer
from demoe.data.synthetic.generators import GENERATORS
from demoe.data.synthetic.sources import SceneStyle, dead_leaves
from demoe.eval.metrics import psnr
from demoe.experiments.catalogue import resolve_dict
from demoe.models.checkpoint import load_model
from demoe.tasks import AIO_BLUR
from demoe.train.config import apply_overrides, from_dict
from demoe.train.loop import Trainer

#: The blur-magnitude argument of each generator (a fraction of the image's short side);
#: frame_average's rotation and zoom are zeroed with it for the no-blur reference.
MAGNITUDE: dict[str, str] = {
    "camera_shake": "length",
    "frame_average": "shift",
    "local_motion": "length",
    "defocus": "max_radius",
    "low_light": "length",
}
ORIGINAL_RECIPES = {k: (g, dict(p)) for k, (g, p) in writer.RECIPES.items()}
ORIGINAL_SCENES = dict(writer.SCENES)


def scenes(override: dict[str, dict[str, Any]]) -> dict[str, SceneStyle]:
    """writer.SCENES with ``override`` fields replaced per dataset ("*": every dataset),
    e.g. ``{"*": {"r_min_div": 60}}`` for smaller leaves (more edges per crop)."""
    out = {}
    for dataset, style in ORIGINAL_SCENES.items():
        fields = {**override.get("*", {}), **override.get(dataset, {})}
        out[dataset] = replace(
            style, **{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
        )
    return out


def _default(generator: str, arg: str) -> Any:
    return inspect.signature(GENERATORS[generator][0]).parameters[arg].default


def recipes(scale: float, override: dict[str, dict[str, Any]]) -> dict[str, tuple[str, dict]]:
    """writer.RECIPES with every magnitude range times ``scale``, then ``override`` merged
    per dataset (``{"realblur_j": {"length": [0.02, 0.04]}}``)."""
    out = {}
    for dataset, (gen, params) in ORIGINAL_RECIPES.items():
        params = dict(params)
        arg = MAGNITUDE[gen]
        lo, hi = params.get(arg, _default(gen, arg))
        params[arg] = (lo * scale, hi * scale)
        for k, v in override.get(dataset, {}).items():
            params[k] = tuple(v) if isinstance(v, list) else v
        out[dataset] = (gen, params)
    return out


def _no_blur(gen: str, params: dict[str, Any]) -> dict[str, Any]:
    params = {**params, MAGNITUDE[gen]: (0.0, 0.0)}
    if gen == "frame_average":
        params.update(max_rot_deg=0.0, max_zoom=0.0)
    return params


def _tag(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=list).encode()).hexdigest()[:10]


def prepare_data(
    work: Path, recipe: dict[str, tuple[str, dict]], styles: dict[str, SceneStyle], config: dict
) -> Path:
    """Synthetic tree, manifests and decoded store of ``recipe`` and ``styles`` under
    ``work/data_<hash>`` (cached)."""
    key = (
        recipe if styles == ORIGINAL_SCENES else [recipe, {k: asdict(v) for k, v in styles.items()}]
    )
    results = work / f"data_{_tag(key)}"
    done = results / "READY"
    if done.is_file():
        return results
    writer.RECIPES.clear()
    writer.RECIPES.update(recipe)
    writer.SCENES.clear()
    writer.SCENES.update(styles)
    synth = Path(paths.data(results, "synthetic"))
    cfg = config["data"]["synthetic"]
    writer.synth_aioblur(synth, scale=cfg["scale"], seed=cfg["seed"])
    section = {**config["data"], "root": str(synth)}
    build_from_config(section, Path(paths.aio_manifest(results, "train")).parent)
    records = [r for r in read_manifest(paths.aio_manifest(results, "train")) if r.split == "train"]
    build_store(records, paths.train_store(results, "train"), workers=1)
    done.write_text(json.dumps(recipe, default=list))
    return results


def blur_cost(
    recipe: dict[str, tuple[str, dict]], styles: dict[str, SceneStyle], config: dict
) -> dict[str, tuple[float, float]]:
    """Per AIO-Blur set: mean PSNR of the test inputs and of the same pairs without blur."""
    cfg = config["data"]["synthetic"]
    scale = writer.SCALES[cfg["scale"]]
    out = {}
    for dataset in AIO_BLUR:
        gen, params = recipe[dataset]
        fn = GENERATORS[gen][0]
        source = partial(dead_leaves, style=styles[dataset])
        h, w = scale.sizes[dataset]
        vals: list[list[float]] = [[], []]
        for i in range(scale.counts[dataset]["test"]):
            for j, p in enumerate((params, _no_blur(gen, params))):
                pair = fn(writer.pair_rng(cfg["seed"], dataset, "test", i), h, w, source, **p)
                mse = float(np.mean((pair.blurry - pair.sharp) ** 2))
                vals[j].append(10 * np.log10(1.0 / mse))
        out[dataset] = (float(np.mean(vals[0])), float(np.mean(vals[1])))
    return out


def train_config(
    name: str, profile: dict, results: Path, run_dir: Path, point: dict, init: Path | None
) -> Any:
    """``name`` resolved as the DAG does, then the grid point's settings."""
    obj = resolve_dict(name, profile, str(results))
    obj["output"] = str(run_dir / "model")
    obj["checkpoint_dir"] = str(run_dir / "checkpoints")
    obj["optim"]["lr"] = point["lr"]
    if name == "baseline_aio":
        obj["data"]["batch_size"] = point["batch"]
        obj["data"]["crop"] = point["crop"]
        obj["schedule"]["steps"] = point["steps"]
    elif point["stage2_steps"]:
        obj["schedule"]["steps"] = point["stage2_steps"]
    if init is not None:
        obj["init"]["source"] = str(init)
    obj["data"]["val_per_dataset"] = 0
    obj["run"]["log_every"] = 100
    return from_dict(apply_overrides(obj, list(point["train_set"])))


@torch.no_grad()
def evaluate(model: torch.nn.Module, test_manifest: str) -> dict[str, dict[str, float]]:
    """Per AIO-Blur set: input PSNR, restored PSNR and router accuracy on every test pair."""
    from demoe.data.datasets import PairedDataset
    from demoe.train.loop import select_records

    model.eval()
    items = PairedDataset(select_records(test_manifest, list(AIO_BLUR), "test"), crop=None)
    acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        x, y = item["blurry"][None], item["sharp"][None]
        out = model(x, task="auto", return_aux=True)
        a = acc[item["dataset"]]
        a["input"].append(psnr(x, y)[0])
        a["output"].append(psnr(out.output.clamp(0, 1), y)[0])
        if out.logits is not None:
            a["router"].append(float(out.logits.argmax(1).item() == item["task_index"]))
    return {d: {k: float(np.mean(v)) for k, v in acc[d].items()} for d in AIO_BLUR}


def run_point(
    point: dict,
    profile: dict,
    config: dict,
    work: Path,
    override: dict,
    scene_override: dict,
    stage2: bool,
) -> list[dict[str, Any]]:
    recipe = recipes(point["blur_scale"], override)
    styles = scenes(scene_override)
    t0 = time.perf_counter()
    results = prepare_data(work, recipe, styles, config)
    data_s = time.perf_counter() - t0
    cost = blur_cost(recipe, styles, config)
    label = "b{blur_scale}_lr{lr}_{batch}x{crop}x{steps}".format(**point)
    point = {**point, "train_set": point["train_set"].split()}
    run_root = work / "runs" / f"{label}_{_tag([recipe, point, str(styles)])}"
    rows, init = [], None
    names = ["baseline_aio", "demoe"] if stage2 else ["baseline_aio"]
    for name in names:
        run_dir = run_root / name
        cfg = train_config(name, profile, results, run_dir, point, init)
        if Path(cfg.output, paths.WEIGHTS_FILE).is_file():  # trained by an earlier call
            model, init, train_s = load_model(cfg.output), Path(cfg.output), float("nan")
        else:
            trainer = Trainer(cfg, resume=None)
            t0 = time.perf_counter()
            init = trainer.fit()
            train_s = time.perf_counter() - t0
            model = trainer.model
        scores = evaluate(model, paths.aio_manifest(results, "test"))
        for dataset, s in scores.items():
            rows.append(
                {
                    **point,
                    "train_set": " ".join(point["train_set"]),
                    "experiment": name,
                    "train_steps": cfg.schedule.steps,
                    "dataset": dataset,
                    "input_psnr": round(s["input"], 3),
                    "output_psnr": round(s["output"], 3),
                    "gain_db": round(s["output"] - s["input"], 3),
                    "noblur_psnr": round(cost[dataset][1], 3),
                    "blur_cost_db": round(cost[dataset][1] - cost[dataset][0], 3),
                    "router_acc": round(s.get("router", float("nan")), 3),
                    "train_s": round(train_s, 1),
                    "data_s": round(data_s, 1),
                    "recipe": json.dumps(recipe[dataset], default=list),
                }
            )
        gains = {d: round(s["output"] - s["input"], 2) for d, s in scores.items()}
        router = np.mean([s.get("router", np.nan) for s in scores.values()])
        print(f"{label} {name}: {train_s:.0f}s gains {gains} router {router:.2f}", flush=True)
    return rows


def _schedule(text: str) -> tuple[int, int, int]:
    batch, crop, steps = (int(v) for v in text.lower().split("x"))
    return batch, crop, steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="CSV (appended to; one row per run and set)")
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--work", default="/tmp/demoe_miniature_study", help="data and runs")
    ap.add_argument("--blur-scale", type=float, nargs="+", default=[1.0])
    ap.add_argument(
        "--recipe-override",
        default="{}",
        help='JSON {dataset: {arg: value}} merged after scaling, e.g. {"reloblur": {"size": [0.3, 0.5]}}',
    )
    ap.add_argument(
        "--scene-override",
        default="{}",
        help='JSON {dataset or "*": {SceneStyle field: value}}, e.g. {"*": {"r_min_div": 60}}',
    )
    ap.add_argument("--lr", type=float, nargs="+", default=[1e-3])
    ap.add_argument(
        "--schedule", nargs="+", default=["4x64x600"], help="BATCHxCROPxSTEPS of stage 1"
    )
    ap.add_argument("--steps", type=int, default=None, help="override the schedules' steps")
    ap.add_argument("--stage2", action="store_true", help="also fine-tune DeMoE from stage 1")
    ap.add_argument("--stage2-steps", type=int, default=0, help="0: the profile's")
    ap.add_argument(
        "--train-set",
        nargs="*",
        default=[],
        help="dotted overrides of both stages' resolved configs, e.g. optim.grad_clip=null "
        'data.datasets=\'["dpdd","gopro"]\'',
    )
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    profile = config["train"]
    override = json.loads(args.recipe_override)
    work = Path(args.work)
    out = Path(args.out)
    for scale in args.blur_scale:
        for lr in args.lr:
            for text in args.schedule:
                batch, crop, steps = _schedule(text)
                point = {
                    "blur_scale": scale,
                    "override": args.recipe_override,
                    "scene_override": args.scene_override,
                    "lr": lr,
                    "batch": batch,
                    "crop": crop,
                    "steps": args.steps or steps,
                    "stage2_steps": args.stage2_steps,
                    "train_set": " ".join(args.train_set),
                }
                rows = run_point(
                    point,
                    profile,
                    config,
                    work,
                    override,
                    json.loads(args.scene_override),
                    args.stage2,
                )
                new = not out.exists()
                with out.open("a", newline="", encoding="utf-8") as f:
                    w = csv.DictWriter(f, fieldnames=list(rows[0]))
                    if new:
                        w.writeheader()
                    w.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
