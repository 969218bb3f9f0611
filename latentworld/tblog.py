"""TensorBoard event files beside a run's own files: every numeric column of a row as a scalar.

Tags are grouped the way SB3 and CleanRL users know them: ``charts/`` returns and win rates,
``losses/`` the learner's losses and entropy, ``model/`` the world model's loss and scores,
``imagination/`` what happened inside the learned env, ``time/`` wall seconds and counters.
``tensorboard`` is an extra (``pip install "latentworld[tensorboard]"``): without it a log that
was asked for by default is off with one message per process, and one asked for explicitly is
an error naming the extra.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

EXTRA_HINT = 'pip install "latentworld[tensorboard]"'
_told = False  # the "logs are off" message is printed once per process


def tag(key: str) -> str:
    """The TensorBoard tag of a curve column or learner record key."""
    if key.startswith(("seconds", "time")) or key in ("iteration", "env_steps", "sps"):
        group = "time"
    elif key.startswith(("imag", "doubt", "penalty")):
        group = "imagination"
    elif key.startswith(("model_", "trust_")):
        group = "model"
    elif any(s in key for s in ("loss", "entropy", "kl", "clip", "explained", "grad")):
        group = "losses"
    else:
        group = "charts"
    return f"{group}/{key}"


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """{tag: value} for the finite numbers of ``row`` (a list column gives one tag per index,
    ``<tag>/<k>``; booleans, strings and missing values give none)."""
    out: dict[str, float] = {}
    for k, v in row.items():
        items = [(f"{tag(k)}/{i}", x) for i, x in enumerate(v)] if isinstance(v, (list, tuple)) else [(tag(k), v)]
        for name, x in items:
            if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x):
                out[name] = float(x)
    return out


class ScalarLog:
    """An event-file writer in ``logdir`` (or nothing, when TensorBoard is not installed and the
    log was not ``required``). ``purge_step``: a resumed run's first new step; events a killed
    run wrote at or past it are hidden, so a resumed curve holds every step once."""

    def __init__(self, logdir: str | Path, *, purge_step: int | None = None, required: bool = False):
        self.writer = None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # torch's writer needs the tensorboard package
            if required:
                raise ImportError(f"TensorBoard logs need the tensorboard package: {EXTRA_HINT}") from exc
            global _told
            if not _told:
                print(f"latentworld: TensorBoard logs are off (tensorboard is not installed); to write them: "
                      f"{EXTRA_HINT}", file=sys.stderr)
                _told = True
            return
        self.writer = SummaryWriter(log_dir=str(logdir), purge_step=purge_step)

    @property
    def active(self) -> bool:
        """Whether events are written (False: TensorBoard is not installed)."""
        return self.writer is not None

    def write(self, row: dict[str, Any], step: int) -> None:
        """Every scalar of ``row`` at global step ``step``, flushed (a kill loses nothing written)."""
        if self.writer is None:
            return
        for name, value in scalars(row).items():
            self.writer.add_scalar(name, value, global_step=int(step))
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def read_scalars(logdir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} as TensorBoard shows them (purged events removed), read with
    TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
