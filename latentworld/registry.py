"""Environment ids → real-env factories.

Built-in families are resolved by prefix (``smax-3m``, ``mpe-simple_spread_v3``, ...) and
imported lazily, so a missing optional dependency only matters for the family that needs it.
Users add their own ParallelEnvs with :func:`register`.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pettingzoo import ParallelEnv


@dataclass(frozen=True)
class _Family:
    """Where a built-in family lives in ``latentworld.adapters`` and what its adapter offers."""

    module: str
    factory: str  # name -> ParallelEnv
    extra: str  # the pip extra that installs its dependencies
    batch: str | None = None  # (name, num_envs, seed) -> a batched env stepping every env in one call
    spec: str | None = None  # name -> EnvSpec without building an env
    geometry: str | None = None  # name -> an object whose .units(obs, alive) places units on the map


_FAMILIES: dict[str, _Family] = {
    "smax": _Family("smax", "make_smax", "smax", batch="SMAXBatch", spec="smax_spec",
                    geometry="smax_geometry.geometry"),
    "smac": _Family("smac", "make_smac", "smac"),
    "smacv2": _Family("smac", "make_smacv2", "smac"),
    "flatland": _Family("flatland", "make_flatland", "flatland"),
    "mpe": _Family("mpe", "make_mpe", "mpe"),
}

_USER: dict[str, Callable[..., ParallelEnv]] = {}


class MissingDependencyError(ImportError):
    """An optional dependency needed by an environment family is not installed."""


def register(env_id: str, factory: Callable[..., ParallelEnv], *, overwrite: bool = False) -> None:
    """Make ``make_real(env_id, **kwargs)`` call ``factory(**kwargs)``.

    The factory must return a PettingZoo ParallelEnv with Discrete action spaces and flat Box
    observations shared by all agents. ``state()`` and ``infos[agent]["action_mask"]`` are
    used when present (the concatenated observations and all-ones masks otherwise).
    """
    if not isinstance(env_id, str) or not env_id or any(c.isspace() for c in env_id):
        raise ValueError(f"env_id must be a non-empty string without spaces, got {env_id!r}")
    if not callable(factory):
        raise TypeError(f"factory for {env_id!r} must be callable, got {type(factory).__name__}")
    if env_id.split("-", 1)[0] in _FAMILIES and "-" in env_id:
        raise ValueError(f"{env_id!r} uses the built-in prefix {env_id.split('-', 1)[0]!r}-; pick another name")
    if env_id in _USER and not overwrite:
        raise ValueError(f"{env_id!r} is already registered; pass overwrite=True to replace it")
    _USER[env_id] = factory


def unregister(env_id: str) -> None:
    """Remove a user registration (built-in ids cannot be removed)."""
    if env_id not in _USER:
        raise KeyError(f"{env_id!r} is not a user-registered env id")
    del _USER[env_id]


def list_envs(family: str | None = None) -> list[str]:
    """All known env ids (built-in families and user registrations), sorted.

    Listing does not need the optional dependencies: it names what ``make_real`` can build
    once the family's extra is installed.
    """
    ids: list[str] = []
    for fam, entry in _FAMILIES.items():
        if family is not None and fam != family:
            continue
        mod = importlib.import_module(f"latentworld.adapters.{entry.module}")
        ids += [f"{fam}-{name}" for name in mod.KNOWN_NAMES[fam]]
    if family is None or family == "user":
        ids += list(_USER)
    return sorted(set(ids))


def split_env_id(env_id: str) -> tuple[str, str]:
    """``"smax-3m"`` → ``("smax", "3m")``; user ids give ``("user", env_id)``."""
    if env_id in _USER:
        return "user", env_id
    fam, sep, name = env_id.partition("-")
    if sep and fam in _FAMILIES and name:
        return fam, name
    raise unknown_env_error(env_id)


def unknown_env_error(env_id: str) -> ValueError:
    """The ValueError for an unknown env id, naming close matches."""
    close = difflib.get_close_matches(env_id, list_envs(), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(
        f"unknown env id {env_id!r}.{hint} See latentworld.list_envs() or `latentworld list`; "
        f"add your own with latentworld.register(env_id, factory)."
    )


def make_real(env_id: str, **kwargs: Any) -> ParallelEnv:
    """Build the real environment for ``env_id`` as a PettingZoo ParallelEnv."""
    fam, name = split_env_id(env_id)
    if fam == "user":
        return _USER[env_id](**kwargs)
    return _adapter_call(env_id, _FAMILIES[fam].factory, name, **kwargs)


def _adapter_call(env_id: str, attr: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``attr`` (``"module.function"`` or a name in the family's module) of the adapter
    of ``env_id``, turning a missing optional dependency into an error naming the extra."""
    fam, name = split_env_id(env_id)
    entry = _FAMILIES[fam]
    mod = importlib.import_module(f"latentworld.adapters.{entry.module}")
    if name not in mod.KNOWN_NAMES[fam] and not getattr(mod, "ACCEPTS_ANY_NAME", False):
        raise unknown_env_error(env_id)
    module, _, fn = attr.rpartition(".")
    if module:
        mod = importlib.import_module(f"latentworld.adapters.{module}")
    try:
        return getattr(mod, fn)(*args, **kwargs)
    except ModuleNotFoundError as e:
        raise MissingDependencyError(
            f"{env_id!r} needs the optional dependency {e.name!r}: "
            f"pip install 'latentworld[{entry.extra}]' -c constraints.txt"
        ) from e


def _family(env_id: str) -> _Family | None:
    fam, _ = split_env_id(env_id)
    return _FAMILIES.get(fam)


def has_real_batch(env_id: str) -> bool:
    """Whether the adapter of ``env_id`` steps many real envs in one call
    (:func:`make_real_batch`); other ids run one ParallelEnv per env."""
    entry = _family(env_id)
    return entry is not None and entry.batch is not None


def make_real_batch(env_id: str, num_envs: int, *, seed: int = 0) -> Any:
    """The adapter's batched real env for ``env_id``: ``num_envs`` envs stepped in one call,
    auto-resetting (``.spec``, ``.num_envs``, ``.reset()``, ``.step(actions) -> (step, next)``,
    as :class:`latentworld.adapters.smax.SMAXBatch`)."""
    if not has_real_batch(env_id):
        raise ValueError(f"{env_id!r} has no batched real env (only {_batched_prefixes()} ids do); "
                         f"use num_envs=1")
    return _adapter_call(env_id, _family(env_id).batch, split_env_id(env_id)[1], num_envs, seed=seed)


def _batched_prefixes() -> str:
    return ", ".join(f"{fam}-*" for fam, entry in _FAMILIES.items() if entry.batch)


def real_batch_spec(env_id: str) -> Any:
    """The EnvSpec of :func:`make_real_batch` for ``env_id``, without building the batch."""
    if not has_real_batch(env_id):
        raise ValueError(f"{env_id!r} has no batched real env (only {_batched_prefixes()} ids do)")
    return _adapter_call(env_id, _family(env_id).spec, split_env_id(env_id)[1])


def unit_geometry(env_id: str) -> Any | None:
    """An object whose ``.units(obs [N, F], alive [N])`` places the allies and the enemies on
    the map from observations (the renderer's SMAX pictures), or None for families without one."""
    try:
        entry = _family(env_id)
    except ValueError:  # an id the registry does not know: nothing to draw by
        return None
    if entry is None or entry.geometry is None:
        return None
    return _adapter_call(env_id, entry.geometry, split_env_id(env_id)[1])


# ---- default checkpoints for the learned envs ----------------------------------------------
_CHECKPOINTS: dict[str, Path] = {}
_PACKAGE_CHECKPOINTS = Path(__file__).parent / "checkpoints"


def register_checkpoint(env_id: str, path: str | os.PathLike) -> None:
    """Make ``latentworld.make(env_id)`` (no ``model``) use the checkpoint directory ``path``."""
    p = Path(path)
    if not (p / "meta.json").is_file():
        raise FileNotFoundError(f"{p} is not a latentworld checkpoint: {p / 'meta.json'} is missing")
    _CHECKPOINTS[env_id] = p


def default_checkpoint(env_id: str) -> Path | None:
    """The checkpoint used when ``make(env_id)`` gets no model: a registered one, else the
    one shipped inside the package (``latentworld/checkpoints/<env_id>/``), else None."""
    if env_id in _CHECKPOINTS:
        return _CHECKPOINTS[env_id]
    shipped = _PACKAGE_CHECKPOINTS / env_id
    return shipped if (shipped / "meta.json").is_file() else None


def list_models() -> list[dict[str, Any]]:
    """The world models ``make(env_id)`` finds without a ``model`` argument (shipped in the
    package, or registered with :func:`register_checkpoint`): one dict each with ``env_id``,
    ``path``, ``size_bytes`` (on disk), ``train_steps`` (gradient steps), ``real_env_steps``
    (the real data it learned from; None when the checkpoint does not say) and ``source``."""
    import json

    ids = sorted({p.name for p in _PACKAGE_CHECKPOINTS.glob("*") if (p / "meta.json").is_file()} | set(_CHECKPOINTS))
    out = []
    for env_id in ids:
        path = default_checkpoint(env_id)
        if path is None:
            continue
        meta = json.loads((path / "meta.json").read_text())
        exported = meta.get("exported", {})
        out.append({"env_id": env_id, "path": str(path),
                    "size_bytes": sum(f.stat().st_size for f in path.iterdir() if f.is_file()),
                    "train_steps": meta.get("train_steps"), "real_env_steps": exported.get("real_env_steps"),
                    "source": "registered" if env_id in _CHECKPOINTS else "shipped"})
    return out


def no_checkpoint_error(env_id: str) -> FileNotFoundError:
    """The error for an env id without a default world model, saying how to make one."""
    return FileNotFoundError(
        f"no default world model for {env_id!r} (`latentworld list --models` lists the shipped ones): "
        f"pass model='path/to/checkpoint', or train one:\n"
        f"  latentworld collect {env_id} --episodes 2000 --out data/{env_id}\n"
        f"  latentworld train-model {env_id} --data data/{env_id} --out ckpt/{env_id}\n"
        f"then latentworld.make({env_id!r}, model='ckpt/{env_id}') "
        f"(or latentworld.register_checkpoint({env_id!r}, 'ckpt/{env_id}'))"
    )
