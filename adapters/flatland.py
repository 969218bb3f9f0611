"""Flatland (flatland-rl 4.3) railway scheduling as a PettingZoo ParallelEnv.

Every train is an agent (``train_0`` …) on a sparse rail network generated from a preset;
each one observes flatland's flattened, normalized tree observation (values in [-1, 1]) and
picks one of flatland's five ``RailEnvActions``. Flatland's own PettingZoo wrapper fails
``parallel_api_test``, so this adapter drives ``RailEnv`` directly. A train that has
arrived is dead: zero observation, ``alive=False`` and only the no-op available.
"""

from __future__ import annotations

import random
import sys
import types
from dataclasses import asdict, dataclass

import numpy as np

from latentworld.core.env_base import ArrayStep, DiscreteParallelEnv, safe_mask
from latentworld.core.spec import EnvSpec


@dataclass(frozen=True)
class FlatlandPreset:
    width: int
    height: int
    n_cities: int
    n_trains: int
    max_rails_between_cities: int = 2
    max_rail_pairs_in_city: int = 1
    tree_depth: int = 2  # tree observation depth: obs_dim = 252 at depth 2
    predictor_depth: int = 20  # shortest-path predictor horizon (conflict features)
    obs_radius: int = 10  # tree distances are divided by this, then clipped to [-1, 1]
    max_steps: int = 200  # EnvSpec.episode_limit: caps flatland's per-episode limit


PRESETS: dict[str, FlatlandPreset] = {
    # flatland's own per-map limit: at most 177 steps over seeds 0-1199 (median ~84)
    "30x30-3c-5t": FlatlandPreset(30, 30, 3, 5, max_rail_pairs_in_city=2, max_steps=200),
    # at most 114 steps over seeds 0-1199 (median ~46)
    "30x30-2c-2t": FlatlandPreset(30, 30, 2, 2, max_steps=128),
}
KNOWN_NAMES = {"flatland": tuple(PRESETS)}
N_ACTIONS = 5  # RailEnvActions: 0 DO_NOTHING, 1 LEFT, 2 FORWARD, 3 RIGHT, 4 STOP
NOOP = 0
N_TRAIN_STATES = 7  # flatland TrainState: WAITING .. DONE (DONE == 6)
TRAIN_FEATURES = 2 + 4 + 2 + N_TRAIN_STATES + 4  # per-train state() block, layout in _state()


def _tree_obs_dim(depth: int) -> int:
    """Length of FlattenedTreeObsForRailEnv: 12 features per node of a 4-ary tree."""
    return sum(12 * 4**d for d in range(depth + 1))


def flatland_spec(name: str) -> EnvSpec:
    """The EnvSpec of a Flatland id (agents, observation and state sizes, actions, step limit)."""
    p = PRESETS[name]
    return EnvSpec(
        env_id=f"flatland-{name}",
        agents=tuple(f"train_{i}" for i in range(p.n_trains)),
        obs_dim=_tree_obs_dim(p.tree_depth),
        state_dim=p.n_trains * TRAIN_FEATURES + 3,
        n_actions=N_ACTIONS,
        episode_limit=p.max_steps,
        noop_action=NOOP,
        has_wins=True,
        extra={"preset": name, **asdict(p)},
    )


def _tree_obs_class():
    """Import FlattenedNormalizedTreeObsForRailEnv, which works without ray.

    Its module imports ``ray.rllib.utils.typing.MultiAgentDict`` for a type hint only; when
    ray is missing, stub modules stand in during the import and are removed right after.
    """
    try:
        from flatland.ml.observations import flatten_tree_observation_for_rail_env as m
    except ModuleNotFoundError as e:
        if e.name is None or e.name.split(".")[0] != "ray":
            raise
        names = ("ray", "ray.rllib", "ray.rllib.utils", "ray.rllib.utils.typing")
        stubs = {n: types.ModuleType(n) for n in names}
        stubs["ray.rllib.utils.typing"].MultiAgentDict = dict
        sys.modules.update(stubs)
        try:
            from flatland.ml.observations import flatten_tree_observation_for_rail_env as m
        finally:
            for n in names:
                sys.modules.pop(n, None)
    return m.FlattenedNormalizedTreeObsForRailEnv


class FlatlandParallelEnv(DiscreteParallelEnv):
    """One flatland episode at a time; ``reset(seed=s)`` regenerates the same map for the same s.

    Rewards: flatland's per-train penalties (0 while travelling, minus the lateness on
    arrival, minus the delay or the whole trip if the train has not arrived at the end)
    divided by the episode's step limit T and floored at -1, so a train's return lies in
    [-1, 0] and ``1 + team_return / n_trains`` is flatland's normalized score.
    """

    metadata = {"name": "flatland_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, name: str, *, invalid_action: str = "noop", render_mode: str | None = None):
        from flatland.envs.line_generators import sparse_line_generator
        from flatland.envs.predictions import ShortestPathPredictorForRailEnv
        from flatland.envs.rail_env import RailEnv
        from flatland.envs.rail_generators import sparse_rail_generator

        super().__init__(
            flatland_spec(name), invalid_action=invalid_action, render_mode=render_mode
        )
        p = self.preset = PRESETS[name]
        obs_builder = _tree_obs_class()(
            max_depth=p.tree_depth,
            predictor=ShortestPathPredictorForRailEnv(max_depth=p.predictor_depth),
            observation_radius=p.obs_radius,
        )
        assert obs_builder.get_len_flattened() == self.env_spec.obs_dim
        self._env = RailEnv(  # no malfunctions (flatland's default), all trains at full speed
            width=p.width,
            height=p.height,
            rail_generator=sparse_rail_generator(
                max_num_cities=p.n_cities,
                max_rails_between_cities=p.max_rails_between_cities,
                max_rail_pairs_in_city=p.max_rail_pairs_in_city,
            ),
            line_generator=sparse_line_generator(),
            number_of_agents=p.n_trains,
            obs_builder_object=obs_builder,
        )
        self._scale = np.array([p.height - 1, p.width - 1], np.float32)  # (row, col) normalizer

    def _reset_arrays(self, seed: int | None) -> ArrayStep:
        env = self._env
        py_random = random.getstate()  # flatland's seeding also reseeds Python's global `random`
        try:
            obs, _ = env.reset(random_seed=seed)  # None: continue the env's own RNG
        finally:
            random.setstate(py_random)
        # Flatland picks a limit per map from its timetable; cap it at the spec's episode_limit.
        env._max_episode_steps = min(int(env._max_episode_steps), self.env_spec.episode_limit)
        return self._arrays(obs)

    def _step_arrays(self, actions: np.ndarray) -> ArrayStep:
        env = self._env
        n = self.env_spec.n_agents
        obs, rew, dones, _ = env.step({i: int(a) for i, a in enumerate(actions)})
        step = self._arrays(obs)
        r = np.array([rew[i] for i in range(n)], np.float64) / env._max_episode_steps  # [N]
        step.rewards = np.maximum(r, -1.0).astype(np.float32)
        all_arrived = not step.alive.any()
        step.terminated = all_arrived
        step.truncated = bool(dones["__all__"]) and not all_arrived
        if dones["__all__"]:
            step.won = all_arrived
        return step

    def _arrays(self, obs: dict[int, np.ndarray]) -> ArrayStep:
        n = self.env_spec.n_agents
        alive = np.array([int(a.state) != N_TRAIN_STATES - 1 for a in self._env.agents])  # [N]
        o = np.stack([obs[i] for i in range(n)]).astype(np.float32)  # [N, obs_dim]
        o = np.clip(np.nan_to_num(o, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
        o[~alive] = 0.0
        mask = np.ones((n, N_ACTIONS), np.int8)  # every action is legal for a train on its way
        mask[~alive] = 0  # arrived: safe_mask leaves only the no-op
        return ArrayStep(obs=o, state=self._state(), action_mask=safe_mask(mask, NOOP), alive=alive)

    def _state(self) -> np.ndarray:
        """Global state [n_trains * TRAIN_FEATURES + 2] float32. Per train, in agent order:

        0-1    (row, col) / (H-1, W-1): position on the map; the start cell before departure,
               the target cell once arrived
        2-5    one-hot direction (of the same configuration)
        6-7    target (row, col) / (H-1, W-1)
        8-14   one-hot TrainState: WAITING, READY_TO_DEPART, MALFUNCTION_OFF_MAP, MOVING,
               STOPPED, MALFUNCTION, DONE
        15     speed in [0, 1]
        16     (earliest_departure - t) / T, clipped to [-1, 1]
        17     (latest_arrival - t) / T, clipped to [-1, 1]
        18     shortest-path distance to the target / T, clipped to [0, 1] (0 once arrived)
        then t / T, T / episode_limit and 1 / max(T - t, 1) (t: elapsed steps, T: this
        episode's step limit). The last one is sharp where t / T is not: flatland's rewards
        fall almost only on the step that reaches T (with T up to 114, t / T moves by under
        0.01 per step there), and a world model's state encoder did not resolve that; 1 / steps
        left is 1, 0.5, 0.33 over the last three steps.
        """
        env = self._env
        t, limit = env._elapsed_steps, env._max_episode_steps
        s = np.zeros((self.env_spec.n_agents, TRAIN_FEATURES), np.float32)
        for i, a in enumerate(env.agents):
            state = int(a.state)
            done = state == N_TRAIN_STATES - 1
            cfg = a.current_configuration or (a.target_configuration if done else None)
            (pos, direction) = cfg if cfg is not None else a.initial_configuration
            s[i, 0:2] = np.asarray(pos) / self._scale
            s[i, 2 + int(direction)] = 1.0
            s[i, 6:8] = np.asarray(a.waypoints[-1][0].position) / self._scale
            s[i, 8 + state] = 1.0
            s[i, 15] = float(a.speed_counter.speed)
            s[i, 16] = np.clip((a.earliest_departure - t) / limit, -1.0, 1.0)
            s[i, 17] = np.clip((a.latest_arrival - t) / limit, -1.0, 1.0)
            if not done:
                dist = env.distance_map.get_agent_distance((pos, int(direction)), a.handle)
                s[i, 18] = min(float(dist) / limit, 1.0)
        tail = [t / limit, limit / self.env_spec.episode_limit, 1.0 / max(limit - t, 1)]
        return np.concatenate([s.reshape(-1), np.asarray(tail, np.float32)])


def make_flatland(name: str, **kwargs) -> FlatlandParallelEnv:
    """The Flatland env ``name`` (for example ``30x30-3c-5t``) as a ParallelEnv; ``kwargs`` go to its constructor."""
    return FlatlandParallelEnv(name, **kwargs)
