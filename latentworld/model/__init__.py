"""The bi-level multi-agent world model (MABL) and its training / evaluation tools."""

from __future__ import annotations

from typing import Any

from .config import WorldModelConfig
from .world_model import ModelState, WorldModel, batch_to_torch

__all__ = ["ModelState", "WorldModel", "WorldModelConfig", "batch_to_torch"]

# Training and evaluation pull in more dependencies (tqdm, safetensors): loaded on first use.
_LAZY = {
    "TrainConfig": "trainer", "TrainResult": "trainer", "train_model": "trainer",
    "ModelTrainer": "trainer", "encode_history_starts": "starts", "encode_start_bank": "starts",
    "load_model": "checkpoint", "evaluate_checkpoint": "evaluate", "model_quality": "evaluate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
