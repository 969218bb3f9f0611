"""BenchMARL tasks backed by learned envs: any BenchMARL algorithm trains inside a world model.

``LatentTask.SMAX_3M.get_task({"model": "ckpt/", ...})`` is a BenchMARL ``TaskClass`` whose
envs are :class:`~latentworld.integrations.torchrl.LatentTorchRLEnv` (E learned envs stepped as one
batch, group ``"agents"``, action masks, a ``state`` for centralized critics). Config keys:

- ``model``: checkpoint directory (None: the shipped default for the env id);
- ``horizon``: imagination horizon (BenchMARL's ``max_steps``), default 15;
- ``obs``: ``"decoded"`` (default: the real observation space, so the trained policy plays
  the real env directly) or ``"latent"``.

BenchMARL is an optional dependency (extra ``benchmarl``); importing this module needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarl.environments.common import Task, TaskClass
from torchrl.data import Composite
from torchrl.envs import EnvBase

from .torchrl import LatentTorchRLEnv


class LatentTaskClass(TaskClass):
    """A BenchMARL task over a learned env (see the module docstring for the config)."""

    def get_env_fun(self, num_envs: int, continuous_actions: bool, seed: int | None, device: Any
                    ) -> Callable[[], EnvBase]:
        if continuous_actions:
            raise ValueError("learned envs have discrete actions: use a BenchMARL algorithm config with "
                             "prefer_continuous_actions=False")
        import latentworld

        cfg = {"model": None, "horizon": 15, "obs": "decoded", **self.config}
        env_id = self.name.lower().replace("_", "-", 1)  # SMAX_3M -> smax-3m
        return lambda: LatentTorchRLEnv(latentworld.make_vec(
            env_id, cfg["model"], num_envs, obs=cfg["obs"], horizon=cfg["horizon"], seed=seed, device=str(device)))

    def supports_continuous_actions(self) -> bool:
        return False

    def supports_discrete_actions(self) -> bool:
        return True

    def max_steps(self, env: EnvBase) -> int:
        return int(self.config.get("horizon", 15))

    def has_render(self, env: EnvBase) -> bool:
        return False

    def group_map(self, env: EnvBase) -> dict[str, list[str]]:
        return {"agents": list(env.venv.spec.agents)}

    def _agents_keys(self, env: EnvBase, keep: set[str]) -> Composite:
        spec = env.full_observation_spec_unbatched.clone()
        for key in list(spec["agents"].keys()):
            if key not in keep:
                del spec[("agents", key)]
        del spec["state"]
        return spec

    def observation_spec(self, env: EnvBase) -> Composite:
        return self._agents_keys(env, {"observation"})

    def info_spec(self, env: EnvBase) -> Composite | None:
        return self._agents_keys(env, {"uncertainty"})

    def state_spec(self, env: EnvBase) -> Composite | None:
        return Composite({"state": env.full_observation_spec_unbatched["state"].clone()})

    def action_spec(self, env: EnvBase) -> Composite:
        return env.full_action_spec_unbatched

    def action_mask_spec(self, env: EnvBase) -> Composite | None:
        return self._agents_keys(env, {"action_mask"})

    @staticmethod
    def env_name() -> str:
        return "latentworld"


class LatentTask(Task):
    """Learned envs as BenchMARL tasks; ``get_task(config)`` needs a config (there is no yaml)."""

    SMAX_3M = None
    SMAX_2S3Z = None
    SMAX_3S5Z = None

    @staticmethod
    def associated_class():
        return LatentTaskClass

    def get_task(self, config: dict[str, Any] | None = None) -> TaskClass:
        return LatentTaskClass(name=self.name, config=dict(config or {}))
