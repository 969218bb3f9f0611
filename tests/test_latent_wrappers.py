"""Deployment and other front ends of the learned env: LatentObservation (decentralized
features in the real env), the SMAC-style object, the Gymnasium VectorEnv view, and SB3 PPO
through SuperSuit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pettingzoo import ParallelEnv
from pettingzoo.test import parallel_api_test

import latentworld
from latentworld.env import LatentGymVectorEnv, LatentSMACEnv
from latentworld.wrappers import LatentObservation, LatentObservationVec


class _Perturbed(ParallelEnv):
    """The real env, with ``agent``'s observation shifted (to probe what each agent reads)."""

    def __init__(self, env, agent: str, shift: float):
        self.env, self.agent, self.shift = env, agent, shift
        self.possible_agents, self.metadata = env.possible_agents, env.metadata
        self.env_spec = env.env_spec

    @property
    def agents(self):
        return self.env.agents

    def observation_space(self, a):
        return self.env.observation_space(a)

    def action_space(self, a):
        return self.env.action_space(a)

    def _shift(self, obs):
        return {a: o + self.shift if a == self.agent else o for a, o in obs.items()}

    def reset(self, seed=None, options=None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._shift(obs), infos

    def step(self, actions):
        obs, *rest = self.env.step(actions)
        return (self._shift(obs), *rest)

    def state(self):
        return self.env.state()


def _features(env, steps: int = 6):
    obs, infos = env.reset(seed=0)
    seq = [obs]
    for t in range(steps):
        obs, _, _, _, infos = env.step({a: int(np.flatnonzero(infos[a]["action_mask"])[t % 2 - 1]) for a in env.agents})
        seq.append(obs)
    return seq


def test_latent_observation_is_decentralized(tiny_checkpoint):
    model = latentworld.load_model(tiny_checkpoint)
    plain = _features(LatentObservation(latentworld.make_real("smax-3m"), model))
    shifted = _features(LatentObservation(_Perturbed(latentworld.make_real("smax-3m"), "ally_1", 0.5), model))
    for a, b in zip(plain, shifted):
        np.testing.assert_array_equal(a["ally_0"], b["ally_0"])  # others' observations do not leak in
        np.testing.assert_array_equal(a["ally_2"], b["ally_2"])
    assert any(not np.allclose(a["ally_1"], b["ally_1"]) for a, b in zip(plain, shifted))


def test_policy_from_imagination_runs_in_the_real_env(tiny_checkpoint):
    model = latentworld.load_model(tiny_checkpoint)
    imagined = latentworld.make("smax-3m", model)
    real = LatentObservation(latentworld.make_real("smax-3m"), model)
    parallel_api_test(real, num_cycles=30)
    torch.manual_seed(0)
    F = imagined.observation_space("ally_0").shape[0]
    policy = torch.nn.Linear(F, 8)  # stands in for any policy trained on the imagined obs

    def act(obs, infos):
        with torch.no_grad():
            logits = policy(torch.as_tensor(np.stack([obs[a] for a in obs])))
        masked = logits.masked_fill(torch.as_tensor(np.stack([infos[a]["action_mask"] for a in obs])) == 0, -1e9)
        return {a: int(masked[i].argmax()) for i, a in enumerate(obs)}

    for env in (imagined, real):
        assert env.observation_space("ally_0").shape == (F,)
        obs, infos = env.reset(seed=2)
        steps = 0
        while env.agents:
            obs, _, term, trunc, infos = env.step(act({a: obs[a] for a in env.agents}, infos))
            steps += 1
        assert steps >= 1 and (term["ally_0"] or trunc["ally_0"])
    assert real.state().shape == (72,)


def test_latent_observation_vec_resets_done_rows(tiny_checkpoint):
    from latentworld.env.real_vector import RealVectorEnv

    model = latentworld.load_model(tiny_checkpoint)
    venv = LatentObservationVec(RealVectorEnv("smax-3m", 4, seed=0), model)
    out = venv.reset(seed=0)
    assert out.obs.shape == (4, 3, venv.obs_dim) and out.state.shape == (4, 72)
    # The first features depend on the first real obs only: a single env's encoder agrees.
    first = model[0].observe_agent(torch.zeros(3, model[0].cfg.deter), torch.zeros(3, model[0].cfg.latent_size),
                                   venv.env.reset(seed=0).obs[0], None, sample=False)
    torch.testing.assert_close(out.obs[0], torch.cat(first[:2], -1))
    venv.reset(seed=0)
    done_seen = False
    for _ in range(120):
        out = venv.step(torch.full((4, 3), 4))
        if out.done.any():
            done_seen = True
            e = int(out.done.nonzero()[0])
            assert not torch.equal(out.obs[e], out.final_obs[e])
    assert done_seen


def test_smac_style_interface(tiny_checkpoint):
    env = LatentSMACEnv(latentworld.make("smax-3m", tiny_checkpoint, horizon=5))
    info = env.get_env_info()
    assert info == {"state_shape": env.get_state_size(), "obs_shape": env.get_obs_size(), "n_actions": 8,
                    "n_agents": 3, "episode_limit": 5}
    obs, state = env.reset(seed=0)
    assert len(obs) == 3 and obs[0].shape == (info["obs_shape"],) and state.shape == (info["state_shape"],)
    total, steps, terminated = 0.0, 0, False
    while not terminated:
        avail = env.get_avail_actions()
        assert np.array_equal(avail[1], env.get_avail_agent_actions(1))
        acts = [int(np.flatnonzero(m)[0]) for m in avail]
        reward, terminated, step_info = env.step(acts)
        total += reward
        steps += 1
        assert np.array_equal(env.get_obs_agent(2), env.get_obs()[2])
    assert steps <= 5 and step_info["battle_won"] is False
    assert step_info["episode_limit"] == (steps == 5 and step_info["episode_limit"])
    with pytest.raises(ValueError, match="one action per agent"):
        env.reset(seed=0)
        env.step([4, 4])
    env.close()


def test_gymnasium_vector_view(tiny_checkpoint):
    venv = latentworld.make_vec("smax-3m", tiny_checkpoint, 2, horizon=4)
    genv = LatentGymVectorEnv(venv)
    assert genv.num_envs == 6 and genv.single_action_space.n == 8
    obs, infos = genv.reset(seed=0)
    assert obs.shape == (6, venv.obs_dim) and genv.observation_space.contains(obs)
    assert infos["action_mask"].shape == (6, 8) and infos["action_mask"].dtype == np.int8
    S = venv.state_dim
    assert infos["state"].shape == (6, S) and np.array_equal(infos["state"][0], infos["state"][2])
    assert infos["invalid_action"].shape == (6,) and not infos["invalid_action"].any()
    finals = 0
    for _ in range(8):
        obs, rew, term, trunc, infos = genv.step(np.full(6, 4))
        assert rew.shape == (6,) and rew[0] == rew[2]  # the team reward goes to every agent slot
        assert infos["state"].shape == (6, S) and not np.array_equal(infos["state"][0], infos["state"][3])
        if "final_obs" in infos:
            finals += int(infos["_final_obs"].sum())
            assert infos["final_state"].shape == (6, S)
    assert finals >= 6 * 2  # both envs ended at least once (horizon 4, 8 steps)


def test_sb3_ppo_through_supersuit(tiny_checkpoint):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "sb3_supersuit.py"
    spec = importlib.util.spec_from_file_location("sb3_supersuit", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    result = mod.train(str(tiny_checkpoint), total_timesteps=2048, n_envs=2, horizon=20)
    assert result["timesteps"] >= 2048
    assert np.isfinite(result["mean_return"]) and result["episodes"] >= 1
