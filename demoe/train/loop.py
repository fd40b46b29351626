"""The trainer: one loop for every experiment, from one CPU to many GPUs.

Per step: L1(restored, sharp) + λ·CE(router logits, task label) (paper Sec. 3.4), AdamW
(β = (0.9, 0.9), App. C), gradient-norm clipping (NAFNet's training setting; the paper
does not state one), cosine schedule to ``min_lr`` (App. C). Under ``torchrun``
the model is wrapped in DistributedDataParallel and the global batch is split over the
processes; with ``optim.grad_accum`` > 1 each process adds up the gradients of that many
micro-batches (loss / grad_accum, all-reduced once, on the last) before one update, so the
global batch is the same on any number of processes. Only rank 0 writes files and talks
(:mod:`demoe.train.monitor`: console lines, TensorBoard). On CUDA: channels_last, fused
AdamW, bf16 (or fp16 with loss scaling) autocast and cuDNN autotuning; on CPU:
channels_last and the ``foreach`` AdamW.

Robustness: a non-finite loss or gradient skips the step with a warning; after
``run.max_bad_steps`` in a row training stops (:class:`TrainingDiverged`) and the last
good checkpoint is left untouched. An update that leaves non-finite weights (a finite
but huge gradient) stops training at once, before any checkpoint or export can hold
them. Checkpoints (every ``run.checkpoint_every`` steps
and at the end) restore the run exactly: weights, optimiser, scheduler, step, data
position and every rank's random state (augmentation is seeded by (seed, epoch,
index) in :class:`~demoe.data.datasets.PairedDataset`); they are written between
optimiser steps, never inside an accumulation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from demoe import paths
from demoe.data.datasets import BalancedTaskSampler, PairedDataset
from demoe.data.manifest import Record, read_manifest
from demoe.data.store import DecodedStore
from demoe.errors import ConfigError, DataError, DemoeError
from demoe.eval.metrics import psnr
from demoe.io.atomic import sweep_stale_temps, write_jsonl
from demoe.io.checkpoint import weight_files
from demoe.models.checkpoint import save_model
from demoe.models.demoe import DeMoE
from demoe.models.fuse import to_channels_last
from demoe.models.registry import build_model, model_config
from demoe.tasks import TASKS
from demoe.train import checkpoints as ckpt
from demoe.train.config import BOOKKEEPING_KEYS, TrainConfig, write_config
from demoe.train.distributed import (
    DistInfo,
    all_true,
    barrier,
    broadcast_buffers,
    gather_objects,
    gradient_sync,
    init_distributed,
    select_device,
)
from demoe.train.monitor import Monitor, notice
from demoe.train.stages import freeze, initialise, set_train_mode

#: Config keys that do not change what is computed (a run may resume with other values).
_NON_IDENTITY = {
    "description",
    "output",
    "checkpoint_dir",
    "extra",
    "data.store",  # the decoded store gives the same batches as the image files
    *BOOKKEEPING_KEYS,
}


class TrainingDiverged(DemoeError):
    """Too many consecutive non-finite losses or gradients."""


@dataclass
class TrainState:
    step: int = 0  # optimiser updates done
    epoch: int = 0
    batch_in_epoch: int = 0  # batches of the current epoch already consumed
    bad_streak: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)


def config_identity(config: TrainConfig) -> str:
    """Hash of everything that changes the trained weights: the config values and the
    contents of the files it names (training manifest, initial weights), so a resumed
    run never continues from a model whose data or initialisation has since changed."""
    kept = identity_values(config.to_dict())
    kept["files"] = list(identity_files(config).values())
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def identity_values(config: dict[str, Any]) -> dict[str, Any]:
    """The flattened config values (of ``TrainConfig.to_dict()``) that enter
    :func:`config_identity`."""
    flat = _flatten(config)
    return {k: v for k, v in flat.items() if not any(_under(k, n) for n in _NON_IDENTITY)}


def identity_files(config: TrainConfig) -> dict[str, str]:
    """SHA-256 of each file that enters :func:`config_identity`, by path."""
    paths = [Path(config.data.train_manifest)]
    if config.init.source is not None:
        paths += weight_files(config.init.source)
    return {str(p): _digest(p) for p in paths}


def identity_changes(payload: dict[str, Any], config: TrainConfig) -> list[str]:
    """Why a checkpoint's identity differs from ``config``'s: the changed keys (old ->
    new) and files, as far as the checkpoint records them."""
    if "config" not in payload:
        return ["the checkpoint records no config"]
    old = identity_values(payload["config"])
    new = identity_values(config.to_dict())
    changes = [
        f"{k}: {old.get(k, '<absent>')!r} -> {new.get(k, '<absent>')!r}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]
    files_before = payload.get("identity_files")
    files_now = identity_files(config)
    if files_before is None:
        if not changes:
            changes.append("the contents of the training manifest or initial weights")
    else:
        changes += [
            f"file {p} changed" if p in files_before else f"file {p} is new"
            for p, digest in files_now.items()
            if files_before.get(p) != digest
        ]
        changes += [f"file {p} is no longer used" for p in files_before if p not in files_now]
    return changes


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _under(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if isinstance(v, dict) and k != "overrides":
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def build_training_model(config: TrainConfig) -> nn.Module:
    """The architecture with its initial weights and frozen groups applied."""
    spec = model_config(config.model.preset, **config.model.overrides)
    if spec["architecture"] == "demoe":
        spec.update(gating=config.model.gating, router_noise=config.model.router_noise)
    elif config.model.task != "auto" or config.loss.lambda_cls > 0:
        raise ConfigError("model.task and loss.lambda_cls need a DeMoE (it has the router)")
    model = build_model(spec)
    if config.init.source is not None:
        initialise(model, config.init.source, config.init.mode, config.init.expert)
    freeze(model, config.freeze.groups, config.freeze.trainable_experts)
    return model


def select_records(path: str, datasets: list[str], split: str) -> list[Record]:
    """Paired records of ``datasets`` in a manifest (DataError when none)."""
    records = [
        r
        for r in read_manifest(path)
        if r.dataset in datasets and r.split == split and r.sharp is not None
    ]
    if not records:
        raise DataError(f"{path}: no paired {split} records of {', '.join(datasets)}")
    return records


def validation_records(path: str, datasets: list[str], per_dataset: int) -> list[Record]:
    """The first ``per_dataset`` paired test records of each dataset."""
    if per_dataset == 0:
        return []
    taken: dict[str, int] = defaultdict(int)
    chosen = []
    for rec in select_records(path, datasets, "test"):
        if taken[rec.dataset] < per_dataset:
            taken[rec.dataset] += 1
            chosen.append(rec)
    return chosen


class Trainer:
    """Trains one :class:`TrainConfig`; :meth:`fit` returns the exported model folder."""

    def __init__(self, config: TrainConfig, resume: str | Path | None = None) -> None:
        self.config = config
        self.device = select_device(config.run.device, _local_rank())
        self.dist: DistInfo = init_distributed(self.device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = True
        _seed_everything(config.run.weights_seed)  # identical initial weights on every rank
        self.model = build_training_model(config).to(self.device)
        self.memory_format = (
            torch.channels_last if config.run.channels_last else torch.contiguous_format
        )
        if config.run.channels_last:
            to_channels_last(self.model)  # 4-D tensors only (PromptIR has 5-D prompts)
        self.is_demoe = isinstance(self.model, DeMoE)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.net = self._wrap(self.model)
        self._setup_data()
        self.total_steps = self._total_steps()
        self.optimizer = self._optimizer()
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=self.total_steps, eta_min=config.optim.min_lr
        )
        self.amp_dtype = _amp_dtype(config.run.amp, self.device)
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.amp_dtype == torch.float16
        )
        self.state = TrainState()
        _seed_everything(config.run.seed + self.dist.rank)  # per-rank dropout / noise
        self.identity = config_identity(config)
        self.identity_files = identity_files(config)
        self._resume(resume)

    # ------------------------------------------------------------------ set-up
    def _wrap(self, model: nn.Module) -> nn.Module:
        if not self.dist.enabled:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(
            model, device_ids=ids, find_unused_parameters=self._may_leave_params_unused()
        )

    def _may_leave_params_unused(self) -> bool:
        """The router gets no gradient in a k=1 network trained without the CE loss."""
        if not self.is_demoe or self.config.loss.lambda_cls > 0:
            return False
        return len(self.model.experts[0].experts) == 1 or self.config.model.task != "auto"

    def _setup_data(self) -> None:
        cfg, accum = self.config.data, self.config.optim.grad_accum
        if cfg.batch_size % (self.dist.world_size * accum):
            raise ConfigError(
                f"data.batch_size {cfg.batch_size} is not divisible by the "
                f"{self.dist.world_size} processes x optim.grad_accum {accum}"
            )
        self.batch_per_rank = cfg.batch_size // self.dist.world_size
        self.micro_batch = self.batch_per_rank // accum
        records = select_records(cfg.train_manifest, cfg.datasets, "train")
        self.train_set = PairedDataset(
            records,
            crop=cfg.crop,
            flip=cfg.flips,
            seed=self.config.run.seed,
            store=DecodedStore(cfg.store) if cfg.store else None,
        )
        self.sampler = BalancedTaskSampler(
            records,
            num_samples=max(len(records), cfg.batch_size),
            num_replicas=self.dist.world_size,
            rank=self.dist.rank,
            seed=self.config.run.seed,
            balance=cfg.balance,
        )
        self.batches_per_epoch = len(self.sampler) // self.batch_per_rank
        self.val_set = PairedDataset(
            validation_records(cfg.val_manifest, cfg.datasets, cfg.val_per_dataset), crop=None
        )

    def _total_steps(self) -> int:
        sched = self.config.schedule
        if sched.steps is not None:
            return sched.steps
        return max(1, math.ceil(sched.epochs * self.batches_per_epoch))

    def _optimizer(self) -> torch.optim.Optimizer:
        o = self.config.optim
        fast = {"fused": True} if self.device.type == "cuda" else {"foreach": True}
        return torch.optim.AdamW(
            self.params,
            lr=o.lr,
            betas=tuple(o.betas),
            weight_decay=o.weight_decay,
            eps=o.eps,
            **fast,
        )

    # ------------------------------------------------------------------ resume
    def _resume(self, resume: str | Path | None) -> None:
        """Continue from ``resume`` (a checkpoint, a folder, or "auto": the latest one in
        ``checkpoint_dir`` if any). A fresh run refuses a folder that has checkpoints;
        with "auto", checkpoints of another config move to
        ``<checkpoint_dir>/superseded/<their identity>/`` (never deleted) and the console
        says which keys or files changed."""
        folder = self.config.checkpoint_dir
        if self.dist.is_main:  # what killed atomic writes left in this job's own folders
            for stale in (folder, self.config.output):
                sweep_stale_temps(stale)
        existing = ckpt.latest_checkpoint(folder)
        if resume is None:
            if existing is not None:
                raise ConfigError(
                    f"{folder} already has checkpoints ({existing.name}): resume "
                    "(--resume auto) or delete them"
                )
            return
        auto = str(resume) == "auto"
        # "auto" reads the folder: its newest intact checkpoint, damaged ones passed over
        source = (folder if existing is not None else None) if auto else resume
        if source is None:
            return
        payload = ckpt.load_checkpoint(source)
        if payload["identity"] == self.identity:
            self._load(payload)
        elif auto:
            if self.dist.is_main:
                moved = ckpt.supersede(folder, payload["identity"])
                changes = "; ".join(identity_changes(payload, self.config))
                notice(
                    f"{self.config.experiment}: restarting from step 0 (was at step "
                    f"{payload['state']['step']}): the training identity changed ({changes}); "
                    f"the old checkpoints are kept in {moved}"
                )
            barrier()
        else:
            raise ConfigError(f"{source} was trained with another config; cannot resume")

    def _load(self, payload: dict[str, Any]) -> None:
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.scaler.load_state_dict(payload["scaler"])
        self.state = TrainState(**payload["state"])
        rngs = payload["rng"]
        if len(rngs) != self.dist.world_size:
            raise ConfigError(
                f"checkpoint has {len(rngs)} processes, this run {self.dist.world_size}: "
                "resume with the same --nproc-per-node"
            )
        ckpt.set_rng_state(rngs[self.dist.rank], self.device)

    def _payload(self) -> dict[str, Any] | None:
        rngs = gather_objects(ckpt.rng_state(self.device))  # collective: every rank calls it
        if not self.dist.is_main:
            return None
        s = self.state
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "state": {
                "step": s.step,
                "epoch": s.epoch,
                "batch_in_epoch": s.batch_in_epoch,
                "bad_streak": s.bad_streak,
                "log": s.log,
            },
            "rng": rngs,
            "identity": self.identity,
            "identity_files": self.identity_files,
            "config": self.config.to_dict(),
        }

    def save_checkpoint(self) -> None:
        payload = self._payload()
        if payload is not None:
            ckpt.save_checkpoint(
                self.config.checkpoint_dir,
                self.state.step,
                payload,
                self.config.run.keep_checkpoints,
            )

    # ------------------------------------------------------------------ loop
    def fit(self) -> Path:
        """Train to ``total_steps`` (from where a resumed run stopped) and export."""
        folder = Path(self.config.checkpoint_dir) / paths.TENSORBOARD_DIR
        self.monitor = Monitor(
            self.config.experiment,
            self.total_steps,
            self.state.step,
            tensorboard=folder,
            progress=self.config.run.progress,
            enabled=self.dist.is_main,
        )
        self.monitor.start(self._header(folder))
        self._window = (time.perf_counter(), self.state.step)
        set_train_mode(self.model)
        try:
            self._run()
        finally:
            self.monitor.close()
        broadcast_buffers(self.model)
        return self._finish()

    def _run(self) -> None:
        self.monitor.mark()
        while self.state.step < self.total_steps:
            for micro_batches in self._epoch_batches():
                self.monitor.data_ready()
                self.state.batch_in_epoch += 1
                done = self._train_step(micro_batches)
                self.monitor.step_done(self._last["loss"] if done else None)
                if done:
                    self._after_step()
                if self.state.step >= self.total_steps:
                    break
                self.monitor.mark()
            if self.state.batch_in_epoch >= self.batches_per_epoch:
                self.state.epoch += 1
                self.state.batch_in_epoch = 0

    def _header(self, tensorboard: Path) -> str:
        d = self.config.data
        return (
            f"training {self.total_steps} steps from step {self.state.step} on "
            f"{self.device}: global batch {d.batch_size} = {self.dist.world_size} "
            f"process(es) x {self.config.optim.grad_accum} micro-batch(es) x "
            f"{self.micro_batch} crops of {d.crop} px; TensorBoard: {tensorboard}"
        )

    def _epoch_batches(self) -> Iterator[list[dict[str, Any]]]:
        """The rest of this epoch's steps, each as its ``optim.grad_accum`` micro-batches."""
        accum = self.config.optim.grad_accum
        group: list[dict[str, Any]] = []
        for batch in self._epoch_loader():
            group.append(batch)
            if len(group) == accum:
                yield group
                group = []

    def _epoch_loader(self) -> DataLoader:
        epoch = self.state.epoch
        self.sampler.set_epoch(epoch)
        self.train_set.set_epoch(epoch)
        start = self.state.batch_in_epoch * self.batch_per_rank
        stop = self.batches_per_epoch * self.batch_per_rank
        indices = list(self.sampler)[start:stop]
        workers = self.config.data.num_workers
        return DataLoader(
            self.train_set,
            batch_size=self.micro_batch,
            sampler=indices,
            drop_last=True,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            # own generator: creating a loader must not consume the global RNG stream
            generator=torch.Generator().manual_seed(self.config.run.seed + epoch),
        )

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def compute_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """L1 + λ·CE (Sec. 3.4); CE only for DeMoE with λ > 0 and routed by the router."""
        x = batch["blurry"].to(self.device, non_blocking=True, memory_format=self.memory_format)
        y = batch["sharp"].to(self.device, non_blocking=True, memory_format=self.memory_format)
        lam = self.config.loss.lambda_cls
        with self._autocast():
            if self.is_demoe:
                out = self.net(x, task=self.config.model.task, return_aux=True)
                restored, logits = out.output, out.logits
            else:
                restored, logits = self.net(x), None
        l1 = F.l1_loss(restored.float(), y)
        parts = {"l1": float(l1.detach())}
        if logits is None or lam == 0:
            return l1, parts
        labels = batch["task_index"].to(self.device)
        ce = F.cross_entropy(logits.float(), labels, ignore_index=-1)
        parts["ce"] = float(ce.detach())
        return l1 + lam * ce, parts

    def _train_step(self, micro_batches: list[dict[str, Any]]) -> bool:
        """One optimiser update from the gradients of ``micro_batches`` (each loss divided
        by their number, so the update is that of their union in one batch); False when it
        was skipped (non-finite loss or gradient)."""
        self.optimizer.zero_grad(set_to_none=True)
        accum = len(micro_batches)
        total, parts = 0.0, defaultdict(float)
        for i, batch in enumerate(micro_batches):
            with gradient_sync(self.net, sync=i == accum - 1):
                loss, terms = self.compute_loss(batch)
                if not all_true(bool(torch.isfinite(loss)), self.device):
                    return self._skip(f"non-finite loss {float(loss.detach())}")
                self.scaler.scale(loss / accum if accum > 1 else loss).backward()
            total += float(loss.detach()) / accum
            for name, value in terms.items():
                parts[name] += value / accum
        self.scaler.unscale_(self.optimizer)
        clip = self.config.optim.grad_clip
        norm = torch.nn.utils.clip_grad_norm_(self.params, clip if clip is not None else math.inf)
        if not math.isfinite(float(norm)) and not self.scaler.is_enabled():
            return self._skip(f"non-finite gradient norm {float(norm)}")
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if not all_true(_all_finite(self.params), self.device):
            raise TrainingDiverged(
                f"{self.config.experiment}: the update of step {self.state.step + 1} made "
                f"weights non-finite; the last good checkpoint is kept in "
                f"{self.config.checkpoint_dir} (resume from it with a lower optim.lr or "
                "optim.grad_clip)"
            )
        self.scheduler.step()
        self.state.step += 1
        self.state.bad_streak = 0
        self._last = {**parts, "loss": total, "grad_norm": float(norm)}
        return True

    def _skip(self, reason: str) -> bool:
        self.optimizer.zero_grad(set_to_none=True)
        self.state.bad_streak += 1
        limit = self.config.run.max_bad_steps
        if self.dist.is_main:
            warnings.warn(
                f"{self.config.experiment}: step {self.state.step + 1} skipped ({reason}); "
                f"{self.state.bad_streak} in a row (stop at {limit})",
                stacklevel=2,
            )
        if self.state.bad_streak >= limit:
            raise TrainingDiverged(
                f"{self.config.experiment}: {limit} non-finite steps in a row at step "
                f"{self.state.step}; last good checkpoint kept in {self.config.checkpoint_dir}"
            )
        return False

    def _after_step(self) -> None:
        run, step = self.config.run, self.state.step
        final = step >= self.total_steps
        if step % run.log_every == 0 or final:
            self._log_train()
        if (run.val_every and step % run.val_every == 0) or final:
            record = {"step": step, "kind": "val", **self.validate()}
            self._log(record)
            self.monitor.val(record, self.state.epoch)
        if (run.checkpoint_every and step % run.checkpoint_every == 0) or final:
            self.save_checkpoint()

    def _log_train(self) -> None:
        start, steps0 = self._window
        now = time.perf_counter()
        done = self.state.step - steps0
        rate = done * self.config.data.batch_size / max(now - start, 1e-9)
        self._window = (now, self.state.step)
        lrs = self.scheduler.get_last_lr()
        record = {
            "step": self.state.step,
            "kind": "train",
            "epoch": self.state.epoch,
            "lr": lrs[0],
            **self._last,
            "samples_per_s": rate,
        }
        self._log(record)
        self.monitor.train(record, lrs)

    def _log(self, record: dict[str, Any]) -> None:
        self.state.log.append(record)
        if self.dist.is_main:
            write_jsonl(Path(self.config.checkpoint_dir) / "train_log.jsonl", self.state.log)

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """PSNR per task on whole test images and router accuracy (rank 0 only; other
        ranks return an empty dict and go on)."""
        if not self.dist.is_main or len(self.val_set) == 0:
            return {}
        self.model.eval()
        scores: dict[str, list[float]] = defaultdict(list)
        hits = []
        for item in self.val_set:
            x = item["blurry"][None].to(self.device, memory_format=self.memory_format)
            restored, logits = self._infer(x)
            value = psnr(restored.float().clamp(0, 1).cpu(), item["sharp"][None])
            scores[TASKS[item["task_index"]]].append(float(value[0]))
            if logits is not None:
                hits.append(int(logits.argmax(1).item() == item["task_index"]))
        set_train_mode(self.model)
        result: dict[str, Any] = {
            "psnr": {t: sum(v) / len(v) for t, v in scores.items()},
            "psnr_mean": sum(sum(v) for v in scores.values()) / sum(map(len, scores.values())),
        }
        if hits:
            result["router_accuracy"] = sum(hits) / len(hits)
        return result

    def _infer(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        with self._autocast():
            if not self.is_demoe:
                return self.model(x), None
            out = self.model(x, task=self.config.model.task, return_aux=True)
            return out.output, out.logits

    # ------------------------------------------------------------------ export
    def _finish(self) -> Path:
        out = Path(self.config.output)
        if not self.dist.is_main:
            return out
        write_config(self.config, out / "resolved_config.yaml")
        write_jsonl(out / "train_log.jsonl", self.state.log)
        val = [r for r in self.state.log if r.get("kind") == "val"]
        metadata = {
            "experiment": self.config.experiment,
            "description": self.config.description,
            "stage": self.config.extra.get("stage"),
            "init_from": self.config.extra.get("init_from"),
            "datasets": list(self.config.data.datasets),
            "steps": self.state.step,
            "epochs": self.state.step / self.batches_per_epoch,
            "config_identity": self.identity,
            "final_validation": val[-1] if val else None,
            "torch": torch.__version__,
            "world_size": self.dist.world_size,
        }
        self.model.eval()
        save_model(self.model, out, metadata)
        return out


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    """True when no element of ``tensors`` is NaN or infinite (one device sync)."""
    if not tensors:
        return True
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (seeds the legacy global stream)
    torch.manual_seed(seed)


def _amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: ``auto`` = bf16 on CUDA (fp16 where bf16 is missing), none on CPU."""
    if mode == "none" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "fp16":
        return torch.float16
    if mode == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def train(config: TrainConfig, resume: str | Path | None = None) -> Path:
    """Train ``config`` (resuming from ``resume``: a checkpoint, a folder or "auto")."""
    return Trainer(config, resume).fit()
