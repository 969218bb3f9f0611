"""EPyMARL (main branch): the learned env as a ``MultiAgentEnv``, its factory and its yaml.

EPyMARL is not on PyPI; it runs from a clone. Three steps put a learned env in it:

1. ``src/envs/__init__.py``: ``REGISTRY["latentworld"] = epymarl_env_fn`` (imported from
   this module);
2. ``src/config/envs/latentworld.yaml``: :func:`write_env_yaml` writes it (the env id, the
   checkpoint, the imagination horizon, EPyMARL's test and log intervals);
3. ``python src/main.py --config=qmix --env-config=latentworld``.

EPyMARL's runners call ``reset(seed, options) -> (obs, info)`` and ``step(actions) -> (obs,
reward, terminated, truncated, info)`` with the SMAC-style getters (``get_state()``,
``get_avail_actions()``, ``get_env_info()`` ...) of :class:`~latentworld.env.LatentSMACEnv`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from latentworld.env.smac_compat import LatentSMACEnv


class LatentEPyMARLEnv(LatentSMACEnv):
    """EPyMARL's ``MultiAgentEnv`` API (main branch) over a learned env.

    EPyMARL's runners call ``reset(seed, options) -> (obs, info)`` and
    ``step(actions) -> (obs, reward, terminated, truncated, info)``, with the SMAC-style getters
    (``get_state()``, ``get_avail_actions()``, ``get_env_info()``...) of :class:`LatentSMACEnv`.
    As EPyMARL's own SMAC wrapper does, ``terminated`` is True at every episode end and
    ``info["episode_limit"]`` tells a truncation (EPyMARL stores ``terminated != episode_limit``);
    ``truncated`` carries the same truncation flag for runners that read it. Register it with
    :func:`epymarl_env_fn` in ``src/envs/__init__.py``::

        from latentworld.integrations.epymarl import epymarl_env_fn
        REGISTRY["latentworld"] = epymarl_env_fn   # env_args: {"key": "smax-3m", "model": "ckpt/"}
    """

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[list[np.ndarray], dict]:
        """Start an imagined episode; returns (observations, info) as EPyMARL expects."""
        self._obs, self._infos = self.env.reset(seed=seed, options=options)
        return self.get_obs(), {}

    def step(self, actions: Sequence[int] | np.ndarray
             ) -> tuple[list[np.ndarray], float, bool, bool, dict[str, Any]]:
        """One imagined step; returns (observations, reward, terminated, truncated, info) as EPyMARL expects."""
        reward, done, info = super().step(actions)
        return self.get_obs(), reward, done, info["episode_limit"], info

    def seed(self, seed: int | None = None) -> None:
        """Seed the next reset."""
        self.env.reset(seed=seed)

    def render(self) -> None:
        """No rendering through EPyMARL (use the learned env's render_mode)."""
        return None

    def save_replay(self) -> None:
        """No replays of imagined episodes."""
        return None

    def get_stats(self) -> dict:
        """EPyMARL's episode statistics (none kept)."""
        return {}


def epymarl_env_fn(key: str = "smax-3m", model: str | None = None, common_reward: bool = True,
                   reward_scalarisation: str = "sum", seed: int | None = None, **make_kwargs: Any
                   ) -> LatentEPyMARLEnv:
    """EPyMARL's env factory signature: ``env_args`` plus ``common_reward`` and
    ``reward_scalarisation`` (the learned env's reward is a team reward: common only)."""
    if not common_reward:
        raise ValueError("the learned env serves one team reward; set common_reward=True in EPyMARL's config")
    import latentworld

    make_kwargs.setdefault("obs", "decoded")
    env = LatentEPyMARLEnv(latentworld.make(key, model, action_mask="info", **make_kwargs))
    if seed is not None:
        env.seed(seed)
    return env


def env_yaml(key: str = "smax-3m", model: str | None = None, horizon: int | None = None,
             t_max: int = 200_000, test_interval: int = 10_000, test_nepisode: int = 32) -> str:
    """The text of ``src/config/envs/latentworld.yaml`` for EPyMARL: ``env: latentworld`` and
    the ``env_args`` that reach :func:`epymarl_env_fn` (``model`` None: the shipped checkpoint;
    ``horizon`` None: the real episode limit). The intervals count imagined steps."""
    if t_max < 1 or test_interval < 1 or test_nepisode < 1:
        raise ValueError("t_max, test_interval and test_nepisode must be >= 1")
    args = {"key": key, "model": model, "horizon": horizon, "seed": None}
    lines = ["env: latentworld", "", "env_args:"]
    lines += [f"  {k}: {'null' if v is None else _yaml_scalar(v)}" for k, v in args.items()]
    lines += ["", "test_greedy: True", f"test_nepisode: {test_nepisode}", f"test_interval: {test_interval}",
              f"log_interval: {test_interval}", f"runner_log_interval: {test_interval}",
              f"learner_log_interval: {test_interval}", f"t_max: {t_max}", ""]
    return "\n".join(lines)


def write_env_yaml(epymarl_root: str | os.PathLike, **kwargs: Any) -> Path:
    """Write :func:`env_yaml` into an EPyMARL clone's ``src/config/envs/latentworld.yaml``."""
    envs = Path(epymarl_root) / "src" / "config" / "envs"
    if not envs.is_dir():
        raise FileNotFoundError(f"{envs} does not exist: pass the root of an EPyMARL clone "
                                f"(the folder that holds src/main.py)")
    path = envs / "latentworld.yaml"
    path.write_text(env_yaml(**kwargs))
    return path


def _yaml_scalar(v: Any) -> str:
    return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else f'"{v}"'
