"""SMAC and SMACv2 on real StarCraft II, as PettingZoo ParallelEnvs.

``smac-<map>`` builds smacv2's ``StarCraft2Env(map_name=<map>)``; ``smacv2-<race>_<n>_vs_<n>``
builds ``StarCraftCapabilityEnvWrapper`` with the capability config of the SMACv2 benchmark
(random teams of the race's three unit types, "surrounded_and_reflect" start positions on a
32x32 map). Both need the ``smacv2`` package (not on PyPI) and the StarCraft II binary with
the SMAC maps; without them the factories raise :class:`StarCraftUnavailableError` naming what
to install and the SMAX scenario (``smax-<map>``, pure JAX, no game needed) closest to the request.

Conventions: agents ``agent_0..agent_{n-1}``; action 0 is SMAC's no-op, the only action of a
dead unit (StarCraft2Env rejects it for a live one, so with ``invalid_action="noop"`` a live
unit's masked action becomes "stop", action 1); the team reward is given to every agent;
``infos[a]["won"]`` is ``battle_won``.
The episode limit ends an episode as a truncation: the factories pass
``continuing_episode=True`` so StarCraft2Env reports ``info["episode_limit"]``; for an env built
without it, a time-out is recognised by the step count (limit reached, battle not won and a
unit still alive).

Seeding: StarCraft II takes its seed when the game is launched (the first ``reset`` and after a
crash restart), from the constructor's ``seed=``. ``reset(seed=s)`` stores ``s`` as the env's
``_seed``, so it only takes effect if the game has not been launched yet; smacv2's team and
start-position draws use their own unseeded generators, so smacv2 scenarios are not
reproducible from a seed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from latentworld.core.env_base import ArrayStep, DiscreteParallelEnv, safe_mask
from latentworld.core.spec import EnvSpec

SMAC_MAPS = (
    "3m", "8m", "25m", "2s3z", "3s5z", "5m_vs_6m", "8m_vs_9m", "10m_vs_11m", "27m_vs_30m",
    "3s5z_vs_3s6z", "MMM", "MMM2", "2c_vs_64zg", "bane_vs_bane", "corridor", "6h_vs_8z",
    "3s_vs_3z", "3s_vs_4z", "3s_vs_5z", "2s_vs_1sc", "so_many_baneling", "1c3s5z", "2m_vs_1z",
)
_SIZES = (5, 10, 20)
_RACES: dict[str, dict[str, Any]] = {  # SMACv2 benchmark unit mixes (smacv2 examples/configs)
    "protoss": {"unit_types": ["stalker", "zealot", "colossus"], "weights": [0.45, 0.45, 0.1]},
    "terran": {"unit_types": ["marine", "marauder", "medivac"], "weights": [0.45, 0.45, 0.1],
               "exception_unit_types": ["medivac"]},
    "zerg": {"unit_types": ["zergling", "baneling", "hydralisk"], "weights": [0.45, 0.1, 0.45],
             "exception_unit_types": ["baneling"]},
}
SMACV2_SCENARIOS = tuple(f"{race}_{n}_vs_{n}" for n in _SIZES for race in _RACES)
KNOWN_NAMES: dict[str, tuple[str, ...]] = {"smac": SMAC_MAPS, "smacv2": SMACV2_SCENARIOS}

SMAX_MAPS = ("3m", "2s3z", "3s5z", "8m", "25m", "5m_vs_6m", "10m_vs_11m", "27m_vs_30m",
             "3s5z_vs_3s6z", "3s_vs_5z", "6h_vs_8z")
SMAC_SOURCE = "git+https://github.com/oxwhirl/smacv2.git"


class StarCraftUnavailableError(RuntimeError):
    """smacv2 or the StarCraft II game (with the SMAC maps) is not installed."""


def smacv2_config(scenario: str) -> dict[str, Any]:
    """Constructor kwargs of ``StarCraftCapabilityEnvWrapper`` for e.g. ``"zerg_10_vs_10"``."""
    race, n_units, _, n_enemies = scenario.split("_")
    team_gen = {"dist_type": "weighted_teams", "observe": True, **_RACES[race]}
    start = {"dist_type": "surrounded_and_reflect", "p": 0.5, "map_x": 32, "map_y": 32}
    capability = {"n_units": int(n_units), "n_enemies": int(n_enemies),
                  "team_gen": team_gen, "start_positions": start}
    return {"map_name": f"10gen_{race}", "capability_config": capability, "conic_fov": False,
            "use_unit_ranges": True, "min_attack_range": 2, "obs_own_pos": True}


def sc2_path() -> Path:
    """Where StarCraft II should be: ``$SC2PATH``, else the platform's default install."""
    if os.environ.get("SC2PATH"):
        return Path(os.environ["SC2PATH"]).expanduser()
    if sys.platform == "darwin":
        return Path("/Applications/StarCraft II")
    if sys.platform == "win32":
        return Path("C:/Program Files (x86)/StarCraft II")
    return Path("~/StarCraftII").expanduser()


def starcraft_missing() -> str | None:
    """Why real SMAC cannot run here (None when smacv2, StarCraft II and its maps are found)."""
    if importlib.util.find_spec("smacv2") is None:
        return "the Python package 'smacv2' is not installed"
    path = sc2_path()
    if not path.is_dir():
        how = "SC2PATH" if os.environ.get("SC2PATH") else "the default location (SC2PATH unset)"
        return f"StarCraft II was not found at {path} ({how})"
    if not (path / "Maps" / "SMAC_Maps").is_dir():
        return f"the SMAC maps are missing: {path / 'Maps' / 'SMAC_Maps'} does not exist"
    return None


def _unavailable(family: str, name: str, reason: str) -> StarCraftUnavailableError:
    if family == "smacv2":
        smax = f"smacv2_{name.split('_')[1]}_units"
    else:
        smax = name if name in SMAX_MAPS else None
    hint = (f" Without StarCraft II, 'smax-{smax}' is the JAX re-implementation (SMAX) of this "
            f"scenario: make_real('smax-{smax}')." if smax else
            " No SMAX scenario matches this map; see list_envs('smax') for the SMAX ones.")
    return StarCraftUnavailableError(
        f"'{family}-{name}' runs the real StarCraft II game, but {reason}. To use it: "
        f"(1) pip install {SMAC_SOURCE}; (2) download StarCraft II for Linux from "
        f"https://github.com/Blizzard/s2client-proto#downloads and unzip it; (3) copy the SMAC "
        f"maps (SMAC_Maps from the smacv2 repository) into <StarCraftII>/Maps/; (4) set SC2PATH "
        f"to the StarCraftII folder (default ~/StarCraftII).{hint}"
    )


class SMACParallelEnv(DiscreteParallelEnv):
    """ParallelEnv over an object with StarCraft2Env's API (``get_obs``, ``step``, ...)."""

    metadata: dict[str, Any] = {"name": "smac", "render_modes": [], "is_parallelizable": True}

    def __init__(self, sc2_env: Any, env_id: str, *, invalid_action: str = "noop",
                 render_mode: str | None = None):
        info = sc2_env.get_env_info()
        n = int(info["n_agents"])
        extra = {"map_name": str(getattr(sc2_env, "map_name", env_id.partition("-")[2]))}
        if "n_enemies" in info:
            extra["n_enemies"] = int(info["n_enemies"])
        spec = EnvSpec(
            env_id=env_id, agents=tuple(f"agent_{i}" for i in range(n)),
            obs_dim=int(info["obs_shape"]), state_dim=int(info["state_shape"]),
            n_actions=int(info["n_actions"]), episode_limit=int(info["episode_limit"]),
            noop_action=0, has_wins=True, extra=extra,
        )
        super().__init__(spec, invalid_action=invalid_action, render_mode=render_mode)
        self.sc2_env = sc2_env
        self._t = 0

    def _seed_target(self) -> Any:
        # smacv2's wrapper keeps the StarCraft2Env in `.env` and forwards attribute reads to it,
        # so a seed must be written on the innermost env, not on the wrapper.
        target = self.sc2_env
        while "env" in getattr(target, "__dict__", {}):
            target = target.env
        return target

    def _reset_arrays(self, seed: int | None) -> ArrayStep:
        if seed is not None:
            target = self._seed_target()
            if hasattr(target, "_seed"):
                target._seed = int(seed)
        # Read back through get_obs/get_state: smacv2's wrapper may return None from reset().
        self.sc2_env.reset()
        self._t = 0
        return self._arrays()

    def _step_arrays(self, actions: np.ndarray) -> ArrayStep:
        # SMAC's no-op is legal only for dead units (StarCraft2Env asserts it): a live unit whose
        # masked action was replaced by the no-op is sent "stop" (1) instead.
        actions = np.where((actions == 0) & self.last_arrays.alive, 1, actions)
        reward, terminated, info = self.sc2_env.step([int(a) for a in actions])
        self._t += 1
        step = self._arrays()
        info = info or {}
        won = bool(info.get("battle_won", False))
        if "episode_limit" in info:
            limit = bool(info["episode_limit"])
        else:  # built without continuing_episode=True: recognise the time-out ourselves
            limit = bool(terminated) and not won and self._t >= self.env_spec.episode_limit \
                and bool(step.alive.any())
        step.rewards = np.full(self.env_spec.n_agents, float(reward), np.float32)
        step.terminated = bool(terminated) and not limit
        step.truncated = limit
        if terminated:
            step.won = won
        return step

    def _arrays(self) -> ArrayStep:
        spec = self.env_spec
        obs = np.asarray(self.sc2_env.get_obs(), np.float32).reshape(spec.n_agents, spec.obs_dim)
        state = np.asarray(self.sc2_env.get_state(), np.float32).reshape(spec.state_dim)
        avail = np.asarray(self.sc2_env.get_avail_actions()).reshape(spec.n_agents, spec.n_actions)
        alive = (avail[:, 1:] > 0).any(axis=1)  # a dead unit has only the no-op (action 0)
        return ArrayStep(obs=obs, state=state, action_mask=safe_mask(avail, 0), alive=alive)

    def close(self) -> None:
        self.sc2_env.close()


def _make(family: str, name: str, sc2_env: Any, invalid_action: str,
          render_mode: str | None, kwargs: dict[str, Any]) -> SMACParallelEnv:
    if name not in KNOWN_NAMES[family]:
        raise ValueError(f"unknown {family} scenario {name!r}; known: {list(KNOWN_NAMES[family])}")
    if sc2_env is None:
        reason = starcraft_missing()
        if reason is not None:
            raise _unavailable(family, name, reason)
        env_mod = importlib.import_module("smacv2.env")
        kwargs = {"continuing_episode": True, **kwargs}
        if family == "smac":
            sc2_env = env_mod.StarCraft2Env(map_name=name, **kwargs)
        else:
            sc2_env = env_mod.StarCraftCapabilityEnvWrapper(**{**smacv2_config(name), **kwargs})
    elif kwargs:
        raise TypeError(f"extra keyword arguments {sorted(kwargs)} cannot be used with sc2_env=")
    return SMACParallelEnv(sc2_env, f"{family}-{name}", invalid_action=invalid_action,
                           render_mode=render_mode)


def make_smac(name: str, *, sc2_env: Any = None, invalid_action: str = "noop",
              render_mode: str | None = None, **kwargs: Any) -> SMACParallelEnv:
    """``smac-<name>``: a SMAC map on StarCraft II; ``kwargs`` go to ``StarCraft2Env``
    (e.g. ``seed=``). ``sc2_env``: an already-built env with StarCraft2Env's API to wrap."""
    return _make("smac", name, sc2_env, invalid_action, render_mode, kwargs)


def make_smacv2(name: str, *, sc2_env: Any = None, invalid_action: str = "noop",
                render_mode: str | None = None, **kwargs: Any) -> SMACParallelEnv:
    """``smacv2-<race>_<n>_vs_<n>``: a SMACv2 scenario; ``kwargs`` override the wrapper's
    constructor arguments. ``sc2_env``: an already-built env with StarCraft2Env's API."""
    return _make("smacv2", name, sc2_env, invalid_action, render_mode, kwargs)
