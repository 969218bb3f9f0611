"""Export a trained checkpoint for shipping: weights plus a small, fresh start-state bank.

A training checkpoint carries the optimizer state and a large start bank; a shipped one
(``latentworld/checkpoints/<env_id>/``) needs neither. The start states are re-encoded
from the newest episodes of the dataset, so that imagination starts where the latest
policy actually goes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from latentworld.data import EpisodeDataset

from .checkpoint import load_model, read_meta, write_checkpoint
from .starts import encode_start_bank


def export_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, data: str | os.PathLike, *,
                      bank: int = 256, newest_episodes: int = 400, seed: int = 0,
                      note: str = "", half: bool = True, real_env_steps: int | None = None) -> dict[str, Any]:
    """Copy the model of ``src`` to ``dst`` with a ``bank``-state start bank from ``data``.

    ``half`` (the default for shipping) stores the weights and starts in float16 and
    xz-compresses the start bank (mostly one-hot latents); both load back as float32.
    ``real_env_steps``: the real data the model learned from, for ``latentworld list --models``."""
    model, meta = load_model(src)
    ds = EpisodeDataset.open(data)
    if ds.spec.env_id != meta["spec"].env_id:
        raise ValueError(f"dataset {data} holds {ds.spec.env_id!r} episodes but the model is for "
                         f"{meta['spec'].env_id!r}")
    n = len(ds)
    episodes = list(range(max(0, n - newest_episodes), n))
    starts = encode_start_bank(model, ds, episodes, bank, torch.device("cpu"), seed)
    info = {k: v for k, v in read_meta(src).items()
            if k in ("train_steps", "history", "dataset", "train_config")}
    info["exported"] = {"from": str(src), "start_bank": bank, "start_episodes": len(episodes), "note": note,
                        "real_env_steps": real_env_steps, "half": half}
    write_checkpoint(dst, spec=meta["spec"], config=meta["config"],
                     tensors={"model": model.state_dict(), "starts": starts}, info=info, half=half,
                     compress=("starts",) if half else ())
    return {"path": str(dst), "bytes": sum(p.stat().st_size for p in Path(dst).iterdir())}
