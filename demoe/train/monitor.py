"""What a training run shows while it runs: console lines and TensorBoard scalars.

Every ``run.log_every`` steps the main process prints one line in the layout of BasicSR's
``MessageLogger``, the trainer NAFNet and its successors share, so the tools and habits
built around those logs apply::

    [stage1][epoch:  3, iter:   1,200, lr:(9.871e-04,)] [eta: 5:41:07, time (data): 0.412 (0.003), samples/s: 77.7] l1: 3.1416e-02 ce: 1.2000e+00 loss: 3.2616e-02 grad_norm: 2.5000e-01

``time (data)`` is the mean seconds per optimiser step since the last line and the part
of it spent waiting for the batch; the ETA extrapolates the wall time of this session
(validation and checkpoints included). Each validation prints a ``val`` line. A
``tqdm`` bar is drawn only when ``run.progress`` is set and stderr is a terminal, so job
logs hold whole lines, never carriage returns.

The same numbers go to TensorBoard (``<checkpoint_dir>/tensorboard``, beside the JSONL
log): ``train/<term>`` for the loss terms, learning rate, gradient norm and throughput,
``val/<metric>`` for the validation scores. A resumed run discards the events a killed
run wrote after its checkpoint (``purge_step``). A failing writer stops logging to
TensorBoard with one notice; training goes on.
"""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

#: Prefix of the lines the train rule copies from its log to the console (train.smk).
NOTICE = "demoe notice: "

#: Keys of a log record that are positions, not scalars to plot.
_POSITION_KEYS = ("step", "kind", "epoch")


def notice(message: str) -> None:
    """One line for the person running the DAG: stderr, prefixed with :data:`NOTICE`."""
    print(NOTICE + message, file=sys.stderr, flush=True)


def scalars(record: dict[str, Any], prefix: str) -> dict[str, float]:
    """The numbers of a log record as TensorBoard tags: nested keys joined by ``/``
    (``{"psnr": {"defocus": 30.1}}`` -> ``val/psnr/defocus``), positions left out."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if key in _POSITION_KEYS:
            continue
        tag = f"{prefix}/{key}"
        if isinstance(value, dict):
            out.update(scalars(value, tag))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[tag] = float(value)
    return out


class Monitor:
    """Console lines, an optional progress bar and TensorBoard scalars of one run.

    ``enabled`` False (every process but the main one under DDP) makes every method a
    no-op. ``tensorboard`` None writes no event files.
    """

    def __init__(
        self,
        experiment: str,
        total_steps: int,
        start_step: int,
        tensorboard: Path | None,
        progress: bool,
        enabled: bool = True,
    ) -> None:
        self.experiment = experiment
        self.total_steps = total_steps
        self.start_step = start_step
        self.enabled = enabled
        self.bar = tqdm(
            total=total_steps,
            initial=start_step,
            desc=experiment,
            disable=not (enabled and progress and sys.stderr.isatty()),
            mininterval=2.0,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        self.writer = self._open_writer(tensorboard, start_step) if enabled else None
        self._session_start = time.perf_counter()
        self._mark = self._session_start
        self._window = [0.0, 0.0, 0]  # seconds per step, seconds waiting for data, steps

    # ------------------------------------------------------------------ timing
    def mark(self) -> None:
        """An optimiser step starts: its batch is being fetched."""
        self._mark = time.perf_counter()

    def data_ready(self) -> None:
        """The step's batch (all its micro-batches) has arrived."""
        self._window[1] += time.perf_counter() - self._mark

    def step_done(self, loss: float | None) -> None:
        """The step is over (``loss`` None: it was skipped)."""
        self._window[0] += time.perf_counter() - self._mark
        self._window[2] += 1
        if loss is not None:
            self.bar.set_postfix(loss=f"{loss:.4e}", refresh=False)
            self.bar.update(1)

    def eta(self, step: int) -> datetime.timedelta:
        """Time left at ``step``, from this session's mean wall time per step."""
        done = step - self.start_step
        if done <= 0:
            return datetime.timedelta(0)
        per_step = (time.perf_counter() - self._session_start) / done
        return datetime.timedelta(seconds=round(per_step * (self.total_steps - step)))

    # ------------------------------------------------------------------ records
    def start(self, header: str) -> None:
        """The run's first line: what is trained, how, and where TensorBoard writes."""
        self._print(f"[{self.experiment}] {header}")

    def train(self, record: dict[str, Any], lrs: list[float]) -> None:
        """A train record of the JSONL log: its console line and scalars."""
        if not self.enabled:
            return
        step_time, data_time, steps = self._window
        step_time, data_time = step_time / max(steps, 1), data_time / max(steps, 1)
        self._window = [0.0, 0.0, 0]
        step = record["step"]
        lr = "".join(f"{v:.3e}," for v in lrs)
        terms = " ".join(
            f"{k}: {v:.4e}"
            for k, v in record.items()
            if k not in (*_POSITION_KEYS, "lr", "samples_per_s")
        )
        self._print(
            f"[{self.experiment}][epoch:{record['epoch']:3d}, iter:{step:8,d}, lr:({lr})] "
            f"[eta: {self.eta(step)}, time (data): {step_time:.3f} ({data_time:.3f}), "
            f"samples/s: {record['samples_per_s']:.1f}] {terms}"
        )
        self._add(
            {
                **scalars(record, "train"),
                "train/step_time": step_time,
                "train/data_time": data_time,
            },
            step,
        )

    def val(self, record: dict[str, Any], epoch: int) -> None:
        """A validation record of the JSONL log: its console line and scalars."""
        if not self.enabled:
            return
        values = scalars(record, "val")
        shown = " ".join(f"{tag[4:]}: {v:.4f}" for tag, v in values.items())
        self._print(
            f"[{self.experiment}][epoch:{epoch:3d}, iter:{record['step']:8,d}] "
            f"validation {shown or '(no validation images)'}"
        )
        self._add(values, record["step"])

    def close(self) -> None:
        self.bar.close()
        if self.writer is not None:
            self._guard(self.writer.close)

    # ------------------------------------------------------------------ output
    def _print(self, line: str) -> None:
        if not self.enabled:
            return
        if self.bar.disable:
            print(line, file=sys.stderr, flush=True)
        else:
            self.bar.write(line, file=sys.stderr)

    def _open_writer(self, folder: Path | None, start_step: int) -> Any:
        if folder is None:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter  # imports tensorboard

            # events after ``start_step`` are those of a run that died after its checkpoint
            return SummaryWriter(str(folder), purge_step=start_step + 1)
        except Exception as exc:  # any failure of an optional log must leave training on
            self._writer_failed(exc)
            return None

    def _add(self, values: dict[str, float], step: int) -> None:
        if self.writer is None:
            return

        def write() -> None:
            for tag, value in values.items():
                self.writer.add_scalar(tag, value, step)
            self.writer.flush()

        self._guard(write)

    def _guard(self, action: Any) -> None:
        try:
            action()
        except Exception as exc:  # any failure of an optional log must leave training on
            self._writer_failed(exc)

    def _writer_failed(self, exc: Exception) -> None:
        self.writer = None
        notice(f"{self.experiment}: TensorBoard logging stopped ({exc}); training goes on")
