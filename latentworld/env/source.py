"""Where a learned env's world model and start states come from.

``model`` may be a checkpoint directory, a ``(WorldModel, meta)`` pair from
:func:`latentworld.load_model`, or a bare :class:`WorldModel`. Checkpoints carry a bank of
encoded real start states (``starts.safetensors``: ``initial.*`` = posteriors of real first
rows, ``any.*`` = posteriors of random rows); a bare model has none, so its episodes start
from the zero state (fine for speed measurements, not for training a policy).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from latentworld.model import ModelState, WorldModel
from latentworld.model.checkpoint import CheckpointError, check_env, read_tensors

START_KINDS = ("initial", "any")
ModelLike = str | os.PathLike | WorldModel | tuple[WorldModel, dict[str, Any]]


@dataclass
class ModelSource:
    """A loaded world model and its start-state bank ([K, N, ...] rows, or None)."""

    model: WorldModel
    starts: ModelState | None
    meta: dict[str, Any] | None


def load_source(model: ModelLike, env_id: str | None = None, *, start: str = "initial",
                device: str | torch.device = "cpu") -> ModelSource:
    """Resolve ``model`` (see module docstring); refuses a model made for another ``env_id``."""
    if start not in START_KINDS:
        raise ValueError(f"start must be one of {START_KINDS}, got {start!r}")
    meta: dict[str, Any] | None = None
    if isinstance(model, (str, os.PathLike)):
        from latentworld.model.checkpoint import load_model

        wm, meta = load_model(model, env_id, str(device))
    elif isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], WorldModel):
        wm, meta = model
    elif isinstance(model, WorldModel):
        wm = model
    else:
        raise TypeError(
            f"model must be a checkpoint directory, a (WorldModel, meta) pair from "
            f"latentworld.load_model, or a WorldModel; got {type(model).__name__}"
        )
    if meta is not None:
        check_env(meta, env_id)
    elif env_id is not None and wm.spec.env_id != env_id:
        raise CheckpointError(
            f"this model was built for {wm.spec.env_id!r}, not {env_id!r}; "
            f"use a model trained on {env_id!r} (latentworld train-model {env_id} ...)"
        )
    wm = wm.to(device).eval()
    return ModelSource(wm, _read_starts(meta, start, device), meta)


def _read_starts(meta: dict[str, Any] | None, start: str, device) -> ModelState | None:
    if meta is None or "checkpoint_dir" not in meta:
        return None
    tensors = read_tensors(Path(meta["checkpoint_dir"]), "starts", meta, str(device))
    if tensors is None:
        return None
    try:
        return ModelState.from_tensors(tensors, prefix=f"{start}.")
    except KeyError as e:
        raise CheckpointError(f"{meta['checkpoint_dir']}/starts.safetensors has no {start!r} start states") from e
