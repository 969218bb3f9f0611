"""latentworld: a trained multi-agent world model as a drop-in PettingZoo environment."""

from __future__ import annotations

from typing import Any

from latentworld._version import __version__
from latentworld.core.spec import EnvSpec
from latentworld.registry import (
    MissingDependencyError,
    default_checkpoint,
    list_envs,
    list_models,
    make_real,
    register,
    register_checkpoint,
    unregister,
)

__all__ = [
    "EnvSpec", "MissingDependencyError", "__version__", "default_checkpoint", "list_envs", "list_models", "load_model",
    "make", "make_real", "make_vec", "register", "register_checkpoint", "unregister",
]


# torch is imported on first use of these, so `import latentworld` (and `latentworld list`) stays fast.
def make(env_id: str, model: Any = None, **kwargs: Any):
    """The learned env for ``env_id``: see :func:`latentworld.env.factory.make`."""
    from latentworld.env.factory import make as _make

    return _make(env_id, model, **kwargs)


def make_vec(env_id: str, model: Any, num_envs: int, **kwargs: Any):
    """``num_envs`` learned envs as one tensor env: see :func:`latentworld.env.factory.make_vec`."""
    from latentworld.env.factory import make_vec as _make_vec

    return _make_vec(env_id, model, num_envs, **kwargs)


def load_model(path: Any, env_id: str | None = None, device: str = "cpu"):
    """Load a checkpoint directory as ``(WorldModel, meta)``: see :func:`latentworld.model.checkpoint.load_model`."""
    from latentworld.model.checkpoint import load_model as _load

    return _load(path, env_id, device)


_SUBMODULES = ("algos", "data", "env", "execution", "integrations", "loop", "metrics", "model", "wrappers")


def __getattr__(name: str) -> Any:
    """``latentworld.wrappers`` (and the other public subpackages) without an explicit import:
    loaded on first access, so ``import latentworld`` stays light."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"latentworld.{name}")
    raise AttributeError(f"module 'latentworld' has no attribute {name!r}")


def _register_with_pettingzoo() -> None:
    """Expose the learned envs as ``pettingzoo.make("parallel", "latentworld/<env_id>", model=...)``
    where the installed PettingZoo has a registry (1.25+); older versions have none."""
    import pettingzoo

    reg = getattr(pettingzoo, "register", None)
    if reg is None:
        return
    existing = getattr(pettingzoo, "parallel_registry", {})
    for env_id in list_envs():
        if f"latentworld/{env_id}-v0" not in existing:
            reg("parallel", f"latentworld/{env_id}-v0", "latentworld.env.factory:make", kwargs={"env_id": env_id})


_register_with_pettingzoo()
