"""Checkpoints: a directory of safetensors weights and JSON metadata; :func:`load_model` reads
one back. Loading runs no code.

Layout::

    meta.json                  env id, EnvSpec, model config, training steps, dataset
                               fingerprint, package version, name and SHA-256 of each tensor file
    model.<digest>.safetensors world-model weights
    starts.<digest>.safetensors a bank of encoded real start states for the learned env (optional)
    optim.<digest>.safetensors optimizer state for resuming training (optional)

A shipped checkpoint may store a file compressed (``name.safetensors.xz``, listed in
meta.json's ``"compressed"``) and its floating tensors in half precision: both are read back
as float32, so a loader never sees the difference.

A checkpoint is committed whole: the tensor files carry their content's digest in their
names and are written beside the previous ones, then meta.json (naming them) replaces the old
one in one rename, and only then are the previous files removed. A save that fails (a full
disk) or is killed at any point leaves the previous checkpoint complete and loadable.
Checkpoints written before ``file_names`` (``model.safetensors`` ...) load as before.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from latentworld._io import atomic_write_bytes, content_name, new_files, remove_unnamed
from latentworld._version import __version__
from latentworld.core.spec import EnvSpec

from .config import WorldModelConfig
from .world_model import WorldModel

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupted, or made for another environment."""


def write_checkpoint(
    root: str | os.PathLike,
    *,
    spec: EnvSpec,
    config: dict[str, Any],
    tensors: dict[str, dict[str, torch.Tensor]],
    info: dict[str, Any],
    half: bool = False,
    compress: tuple[str, ...] = (),
) -> Path:
    """Write ``tensors[name]`` to ``name.safetensors`` and the metadata to ``meta.json``.

    ``tensors`` must hold at least ``"model"``; ``info`` is free JSON (training steps,
    dataset fingerprint, losses ...). ``half`` stores floating tensors as float16; the files
    named in ``compress`` are written xz-compressed (for shipping: see :func:`read_tensors`).
    """
    if "model" not in tensors:
        raise ValueError("a checkpoint needs the 'model' tensors")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    digests, names = {}, {}
    with new_files() as written:  # removed again if the save does not reach its commit
        for name, group in tensors.items():
            cast = (lambda v: v.half() if v.is_floating_point() else v) if half else (lambda v: v)  # noqa: E731
            data = save({k: cast(v.detach().cpu()).contiguous() for k, v in group.items()})
            if name in compress:
                data = lzma.compress(data, preset=9)
            names[name], digests[name] = content_name(name, data, _file_name("", name in compress))
            if not (root / names[name]).is_file():  # the same content is already there under this name
                atomic_write_bytes(root / names[name], data)
                written.append(root / names[name])
        _commit_meta(root, spec, config, digests, names, compress, info)
    remove_unnamed(root, names.values(), (".safetensors", ".safetensors.xz"))
    return root


def _commit_meta(root: Path, spec: EnvSpec, config: dict[str, Any], digests: dict[str, str],
                 names: dict[str, str], compress: tuple[str, ...], info: dict[str, Any]) -> None:
    meta = {
        "format_version": FORMAT_VERSION,
        "env_id": spec.env_id,
        "spec": spec.to_dict(),
        "config": config,
        "files": digests,
        "file_names": names,
        **({"compressed": sorted(compress)} if compress else {}),
        "latentworld_version": __version__,
        **info,
    }
    atomic_write_bytes(root / "meta.json", json.dumps(meta, indent=2, sort_keys=True).encode())  # the commit


def read_meta(root: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's meta.json (with its EnvSpec parsed), checked for format and corruption."""
    root = Path(root)
    path = root / "meta.json"
    if (root / "episodes").is_dir():
        raise CheckpointError(f"{root} is not a latentworld checkpoint: it is a dataset; train a model on it "
                              f"with `latentworld train-model ENV_ID --data {root} --out CKPT`")
    if not path.is_file():
        raise CheckpointError(f"{root} is not a latentworld checkpoint: {path} is missing")
    try:
        meta = json.loads(path.read_text())
        meta["spec"] = EnvSpec.from_dict(meta["spec"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} is corrupted ({e}); re-save or retrain the checkpoint") from e
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{root} has checkpoint format {meta.get('format_version')}; this latentworld reads {FORMAT_VERSION}"
        )
    return meta


def _file_name(name: str, compressed: bool) -> str:
    """``name.safetensors[.xz]``: the names of checkpoints written before ``file_names``."""
    return f"{name}.safetensors" + (".xz" if compressed else "")


def read_tensors(root: str | os.PathLike, name: str, meta: dict[str, Any], device: str = "cpu"
                 ) -> dict[str, torch.Tensor] | None:
    """Load ``name.safetensors`` (or its ``.xz``) after checking its SHA-256 against meta.json
    (None if absent); half-precision tensors come back as float32."""
    compressed = name in meta.get("compressed", ())
    path = Path(root) / meta.get("file_names", {}).get(name, name + _file_name("", compressed))
    want = meta.get("files", {}).get(name)
    if want is None:
        return None
    if not path.is_file():
        raise CheckpointError(f"{path} is missing although meta.json lists it; the checkpoint is incomplete")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != want:
        raise CheckpointError(
            f"{path} is corrupted or truncated (SHA-256 does not match meta.json, {len(data)} bytes); "
            f"re-save or retrain the checkpoint"
        )
    try:
        tensors = load(lzma.decompress(data) if compressed else data)
    except (SafetensorError, lzma.LZMAError) as e:  # pragma: no cover - caught by the digest first
        raise CheckpointError(f"{path} is not a valid safetensors file ({e})") from e
    return {k: (v.float() if v.dtype == torch.float16 else v).to(device) for k, v in tensors.items()}


def check_env(meta: dict[str, Any], env_id: str | None, spec: EnvSpec | None = None) -> None:
    """Refuse a checkpoint made for another env id or other shapes, naming the difference."""
    ckpt_spec: EnvSpec = meta["spec"]
    if env_id is not None and env_id != ckpt_spec.env_id:
        raise CheckpointError(
            f"this checkpoint was trained on {ckpt_spec.env_id!r}, not {env_id!r}; "
            f"use a model trained on {env_id!r} (latentworld train-model {env_id} ...)"
        )
    if spec is not None:
        diff = ckpt_spec.shape_mismatch(spec)
        if diff:
            raise CheckpointError(
                f"checkpoint for {ckpt_spec.env_id!r} does not match the environment's shapes in {diff}: "
                + ", ".join(f"{k} {getattr(ckpt_spec, k)} vs {getattr(spec, k)}" for k in diff)
            )


def load_model(path: str | os.PathLike, env_id: str | None = None, device: str = "cpu"
               ) -> tuple[WorldModel, dict[str, Any]]:
    """Load a checkpoint directory; refuses one made for another env id. Runs no code."""
    meta = read_meta(path)
    check_env(meta, env_id)
    try:
        cfg = WorldModelConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}/meta.json has an invalid model config ({e})") from e
    model = WorldModel(meta["spec"], cfg).to(device)
    weights = read_tensors(path, "model", meta, device)
    if weights is None:
        raise CheckpointError(f"{path}/meta.json lists no model weights")
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit the model config in meta.json ({e})") from e
    model.eval()
    meta["checkpoint_dir"] = str(Path(path))  # lets the learned env find starts.safetensors
    return model, meta
