"""RLlib (new API stack): register a learned env and build the masked RLModule spec.

:func:`register` makes ``latentworld.make(env_id, model, action_mask="rllib")`` an RLlib env
under a name: a PettingZoo ParallelEnv wrapped in ``ParallelPettingZooEnv``, whose Dict
observations ``{"observations", "action_mask"}`` are the layout of RLlib's
``ActionMaskingTorchRLModule``. :func:`masked_module_spec` is that module for one policy
shared by every agent (what :func:`shared_policy` maps them to), so masked actions get zero
probability. Decoded observations (the default here) are the real env's observation space:
the trained module plays the real env without the model::

    from latentworld.integrations import rllib as lw_rllib
    name = lw_rllib.register("smax-3m", model="ckpt/", horizon=15)
    config = (PPOConfig().environment(name)
              .multi_agent(**lw_rllib.shared_policy())
              .rl_module(rl_module_spec=lw_rllib.masked_module_spec()))

RLlib is an optional dependency (extra ``rllib``); importing this module needs it.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.rllib.examples.rl_modules.classes.action_masking_rlm import ActionMaskingTorchRLModule
from ray.tune.registry import register_env

SHARED = "shared"
"""The policy id every agent maps to (parameter sharing)."""


def register(env_id: str, model: Any = None, *, name: str | None = None, obs: str = "decoded",
             **make_kwargs: Any) -> str:
    """Register the learned env of ``env_id`` with RLlib; returns the registered name.

    ``model``: a checkpoint directory (None: the shipped one). Keys of RLlib's ``env_config``
    (``horizon``, ``seed``, ``uncertainty_penalty`` ... any keyword of ``latentworld.make``)
    override ``make_kwargs`` per env runner. The mask is always served the RLlib way.
    """
    if "action_mask" in make_kwargs:
        raise ValueError("register() always serves masks as RLlib's {'observations', 'action_mask'} "
                         "Dict observation; drop the action_mask argument")
    import latentworld

    name = name or f"latentworld-{env_id}"
    defaults = {"obs": obs, **make_kwargs}

    def creator(env_config: dict) -> ParallelPettingZooEnv:
        kwargs = {**defaults, **{k: v for k, v in dict(env_config or {}).items() if k != "model"}}
        return ParallelPettingZooEnv(latentworld.make(env_id, dict(env_config or {}).get("model", model),
                                                      action_mask="rllib", **kwargs))

    register_env(name, creator)
    return name


def shared_policy() -> dict[str, Any]:
    """Keyword arguments of ``AlgorithmConfig.multi_agent``: one policy for all agents."""
    return {"policies": {SHARED}, "policy_mapping_fn": lambda agent_id, *args, **kwargs: SHARED}


def masked_module_spec(hiddens: tuple[int, ...] = (128, 128)) -> MultiRLModuleSpec:
    """RLlib's ``ActionMaskingTorchRLModule`` (an MLP of ``hiddens``) as the shared policy."""
    if not hiddens or any(int(h) < 1 for h in hiddens):
        raise ValueError(f"hiddens must be positive layer widths, got {hiddens!r}")
    return MultiRLModuleSpec(rl_module_specs={SHARED: RLModuleSpec(
        module_class=ActionMaskingTorchRLModule,
        model_config={"fcnet_hiddens": list(hiddens), "head_fcnet_hiddens": []})})
