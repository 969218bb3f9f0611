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
from pathlib import Path
from typing import Any

from pettingzoo import ParallelEnv

# family prefix → (module inside latentworld.adapters, factory name, extra that installs it)
_FAMILIES: dict[str, tuple[str, str, str]] = {
    "smax": ("smax", "make_smax", "smax"),
    "smac": ("smac", "make_smac", "smac"),
    "smacv2": ("smac", "make_smacv2", "smac"),
    "flatland": ("flatland", "make_flatland", "flatland"),
    "mpe": ("mpe", "make_mpe", "mpe"),
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
    for fam, (module, _, _) in _FAMILIES.items():
        if family is not None and fam != family:
            continue
        mod = importlib.import_module(f"latentworld.adapters.{module}")
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
    module, factory, extra = _FAMILIES[fam]
    mod = importlib.import_module(f"latentworld.adapters.{module}")
    if name not in mod.KNOWN_NAMES[fam] and not getattr(mod, "ACCEPTS_ANY_NAME", False):
        raise unknown_env_error(env_id)
    try:
        return getattr(mod, factory)(name, **kwargs)
    except ModuleNotFoundError as e:
        raise MissingDependencyError(
            f"{env_id!r} needs the optional dependency {e.name!r}: "
            f"pip install 'latentworld[{extra}]' -c constraints.txt"
        ) from e


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
