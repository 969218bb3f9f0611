"""MARL libraries users plug in, trained inside the shipped smax-3m learned env and then played
in real smax-3m (decentralized, decoded observations = the real observation space)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import latentworld

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_sb3_vecenv_slots_masks_and_episode_ends():
    pytest.importorskip("jaxmarl")
    from latentworld.env.sb3_vec import LatentSB3VecEnv

    env = LatentSB3VecEnv(latentworld.make_vec("smax-3m", None, 4, obs="decoded", horizon=3, seed=0))
    assert env.num_envs == 12 and env.action_space.n == 8
    obs = env.reset()
    assert obs.shape == (12, 75) and env.action_masks().shape == (12, 8)
    assert env.env_method("action_masks", indices=[0, 5])[1].shape == (8,)
    ends = 0
    for _ in range(3):
        masks = env.action_masks()
        acts = np.array([np.flatnonzero(m)[0] for m in masks])
        obs, rew, done, infos = env.step(acts)
        assert rew.shape == (12,) and rew[0] == rew[2]  # one team reward per env
        assert not any(i["invalid_action"] for i in infos)
        for k in np.flatnonzero(done):
            assert infos[k]["terminal_observation"].shape == (75,) and "TimeLimit.truncated" in infos[k]
            ends += 1
    assert ends >= 12  # horizon 3: every slot ended at least once


def test_sb3_maskable_ppo_trains_in_imagination_and_beats_random_in_real():
    pytest.importorskip("jaxmarl")
    r = _example("sb3_maskable").train(total_timesteps=150_000, eval_episodes=64, seed=0)
    assert r["masked_actions_chosen"] == 0
    assert r["real_return_sampled"] > r["random_return"] + 0.2, r
