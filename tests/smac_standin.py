"""A stand-in for smacv2's ``StarCraft2Env``, used by the tests of ``latentworld.adapters.smac``.

It is a stand-in because StarCraft II (a multi-GB game binary plus the SMAC maps) cannot be
installed on CI machines. It is NOT StarCraft: it follows StarCraft2Env's documented API exactly
(the constructor's ``map_name=``/``seed=``/``continuing_episode=``, ``reset() -> (obs, state)``,
``step(actions) -> (reward, terminated, info)``, ``get_obs``, ``get_obs_agent``, ``get_state``,
``get_avail_actions``, ``get_avail_agent_actions``, ``get_env_info``, ``get_obs_size``,
``get_state_size``, ``get_total_actions``, ``close``, ``seed``, ``n_agents``, ``episode_limit``)
with small deterministic dynamics that exercise the adapter the way the game would:

* SMAC's action layout: 0 no-op, 1 stop, 2-5 move north/south/east/west, 6+j attack enemy j.
* Allies start at x=0 and enemies at x=9; a unit can attack a unit within range 6, so allies must
  move east before they can shoot. Allies deal 6 damage, enemies 4 (to the nearest ally in range).
* A dead ally (health 0) has only the no-op available, an alive one never has it; like the real
  env, ``step`` raises AssertionError on an unavailable action.
* All enemies dead: terminated with ``info["battle_won"] = True``; all allies dead: terminated,
  lost. Reaching ``episode_limit`` steps: terminated, and ``info["episode_limit"] = True`` only when
  built with ``continuing_episode=True`` (as in SMAC).
* The seed is taken when the "game" is launched (the first reset), as StarCraft II does; it
  jitters the start positions.
"""

from __future__ import annotations

import numpy as np

# map name -> (n_agents, n_enemies, episode_limit), as in SMAC's map registry
MAPS = {"3m": (3, 3, 60), "8m": (8, 8, 120), "2s3z": (5, 5, 120), "5m_vs_6m": (5, 6, 70)}
HEALTH, RANGE, ALLY_DAMAGE, ENEMY_DAMAGE, MOVE = 45.0, 6.0, 6.0, 4.0, 2.0
MAP_SIZE = 16.0
_MOVES = {2: (0.0, MOVE), 3: (0.0, -MOVE), 4: (MOVE, 0.0), 5: (-MOVE, 0.0)}


class StarCraft2EnvStandIn:
    """Stand-in for ``smacv2.env.StarCraft2Env`` (see the module docstring)."""

    def __init__(self, map_name: str = "8m", seed: int | None = None,
                 continuing_episode: bool = False, reward_scale_rate: float = 20.0):
        if map_name not in MAPS:
            raise ValueError(f"stand-in knows maps {sorted(MAPS)}, not {map_name!r}")
        self.map_name = map_name
        self.n_agents, self.n_enemies, self.episode_limit = MAPS[map_name]
        self._seed = seed
        self.continuing_episode = continuing_episode
        self.n_actions = 6 + self.n_enemies
        self.max_reward = self.n_enemies * (HEALTH + 10.0) + 200.0
        self.reward_scale_rate = reward_scale_rate
        self._rng: np.random.Generator | None = None  # created at "launch" (first reset)
        self._episode_steps = 0
        self._terminated = True
        self.closed = False
        self.ally_pos = np.zeros((self.n_agents, 2))
        self.enemy_pos = np.zeros((self.n_enemies, 2))
        self.ally_health = np.zeros(self.n_agents)
        self.enemy_health = np.zeros(self.n_enemies)
        self.last_action = np.zeros((self.n_agents, self.n_actions))

    # ---- episode -------------------------------------------------------------------------------
    def reset(self) -> tuple[list[np.ndarray], np.ndarray]:
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        jitter = self._rng.uniform(-0.25, 0.25, self.n_agents + self.n_enemies)
        rows = np.arange(max(self.n_agents, self.n_enemies)) + 6.0
        self.ally_pos = np.stack([np.zeros(self.n_agents), rows[: self.n_agents]], 1)
        self.enemy_pos = np.stack([np.full(self.n_enemies, 9.0), rows[: self.n_enemies]], 1)
        self.ally_pos[:, 1] += jitter[: self.n_agents]
        self.enemy_pos[:, 1] += jitter[self.n_agents:]
        self.ally_health = np.full(self.n_agents, HEALTH)
        self.enemy_health = np.full(self.n_enemies, HEALTH)
        self.last_action = np.zeros((self.n_agents, self.n_actions))
        self._episode_steps = 0
        self._terminated = False
        return self.get_obs(), self.get_state()

    def step(self, actions) -> tuple[float, bool, dict]:
        assert not self._terminated, "stand-in: step() after the episode ended; call reset()"
        actions = [int(a) for a in actions]
        assert len(actions) == self.n_agents, f"expected {self.n_agents} actions, got {len(actions)}"
        for a_id, action in enumerate(actions):
            avail = self.get_avail_agent_actions(a_id)
            assert avail[action] == 1, f"Agent {a_id} cannot perform action {action}"
            if action == 0:
                assert self.ally_health[a_id] == 0, "No-op only available for dead agents."
        self.last_action = np.eye(self.n_actions)[actions]
        reward = 0.0
        enemy_alive_before = self.enemy_health > 0
        for a_id, action in enumerate(actions):  # allies act
            if action in _MOVES:
                self.ally_pos[a_id] = np.clip(self.ally_pos[a_id] + _MOVES[action], 0.0, MAP_SIZE)
            elif action >= 6:
                target = action - 6
                dealt = min(ALLY_DAMAGE, self.enemy_health[target])
                self.enemy_health[target] -= dealt
                reward += dealt
        for e_id in np.flatnonzero(enemy_alive_before & (self.enemy_health > 0)):  # enemies act
            dist = np.linalg.norm(self.ally_pos - self.enemy_pos[e_id], axis=1)
            dist[self.ally_health <= 0] = np.inf
            target = int(np.argmin(dist))
            if dist[target] <= RANGE:
                self.ally_health[target] = max(0.0, self.ally_health[target] - ENEMY_DAMAGE)
        reward += 10.0 * int((enemy_alive_before & (self.enemy_health <= 0)).sum())
        self._episode_steps += 1
        info: dict = {"battle_won": False}
        terminated = False
        if not (self.enemy_health > 0).any():
            terminated, info["battle_won"] = True, True
            reward += 200.0
        elif not (self.ally_health > 0).any():
            terminated = True
        elif self._episode_steps >= self.episode_limit:
            terminated = True
            if self.continuing_episode:
                info["episode_limit"] = True
        self._terminated = terminated
        return reward / (self.max_reward / self.reward_scale_rate), terminated, info

    # ---- observations ---------------------------------------------------------------------------
    def get_obs_agent(self, agent_id: int) -> np.ndarray:
        obs = np.zeros(self.get_obs_size(), np.float32)
        if self.ally_health[agent_id] <= 0:
            return obs  # dead units see nothing, as in SMAC
        me = self.ally_pos[agent_id]
        obs[:3] = self.ally_health[agent_id] / HEALTH, *(me / MAP_SIZE)
        feats = []
        for pos, health in zip(self.enemy_pos, self.enemy_health, strict=True):
            seen = health > 0 and np.linalg.norm(pos - me) <= 9.0
            feats.append([1.0, health / HEALTH, *((pos - me) / 9.0)] if seen else [0.0] * 4)
        for j in range(self.n_agents):
            if j != agent_id:
                pos, health = self.ally_pos[j], self.ally_health[j]
                seen = health > 0 and np.linalg.norm(pos - me) <= 9.0
                feats.append([1.0, health / HEALTH, *((pos - me) / 9.0)] if seen else [0.0] * 4)
        obs[3:] = np.asarray(feats, np.float32).reshape(-1)
        return obs

    def get_obs(self) -> list[np.ndarray]:
        return [self.get_obs_agent(i) for i in range(self.n_agents)]

    def get_state(self) -> np.ndarray:
        allies = np.column_stack([self.ally_health / HEALTH, self.ally_pos / MAP_SIZE])
        enemies = np.column_stack([self.enemy_health / HEALTH, self.enemy_pos / MAP_SIZE])
        parts = [allies.reshape(-1), enemies.reshape(-1), self.last_action.reshape(-1)]
        return np.concatenate(parts).astype(np.float32)

    def get_obs_size(self) -> int:
        return 3 + 4 * self.n_enemies + 4 * (self.n_agents - 1)

    def get_state_size(self) -> int:
        return 3 * (self.n_agents + self.n_enemies) + self.n_agents * self.n_actions

    # ---- actions --------------------------------------------------------------------------------
    def get_avail_agent_actions(self, agent_id: int) -> list[int]:
        if self.ally_health[agent_id] <= 0:
            return [1] + [0] * (self.n_actions - 1)
        avail = [0, 1] + [0] * (self.n_actions - 2)
        for action, delta in _MOVES.items():
            new = self.ally_pos[agent_id] + delta
            avail[action] = int(bool(np.all((new >= 0.0) & (new <= MAP_SIZE))))
        dist = np.linalg.norm(self.enemy_pos - self.ally_pos[agent_id], axis=1)
        for e_id in range(self.n_enemies):
            avail[6 + e_id] = int(self.enemy_health[e_id] > 0 and dist[e_id] <= RANGE)
        return avail

    def get_avail_actions(self) -> list[list[int]]:
        return [self.get_avail_agent_actions(i) for i in range(self.n_agents)]

    def get_total_actions(self) -> int:
        return self.n_actions

    # ---- misc -----------------------------------------------------------------------------------
    def get_env_info(self) -> dict:
        return {"state_shape": self.get_state_size(), "obs_shape": self.get_obs_size(),
                "n_actions": self.get_total_actions(), "n_agents": self.n_agents,
                "n_enemies": self.n_enemies, "episode_limit": self.episode_limit}

    def seed(self) -> int | None:
        return self._seed

    def close(self) -> None:
        self.closed = True
