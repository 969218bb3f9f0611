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
    from latentworld.integrations.sb3 import LatentSB3VecEnv

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


def test_torchrl_pettingzoo_wrapper_survives_masked_actions():
    """A mask-ignoring policy through TorchRL's PettingZooWrapper: every masked action becomes
    the no-op, flagged in the info spec that TorchRL built from reset()."""
    pytest.importorskip("jaxmarl")
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper

    env = latentworld.make("smax-3m", obs="decoded", action_mask="info", seed=0)
    w = PettingZooWrapper(env, use_mask=False, categorical_actions=True, return_state=True, done_on_any=False)

    def always_attack(td):  # attack enemy 2 whatever the mask says
        td.set(("ally", "action"), torch.full((3,), 7))
        return td

    td = w.rollout(40, policy=always_attack, break_when_any_done=False)
    assert td.get(("ally", "observation")).shape == (40, 3, 75)  # flat, not nested, with masks in infos
    assert td.get(("ally", "action_mask")).shape == (40, 3, 8)
    assert td.get(("next", "ally", "info", "invalid_action")).sum() > 0


def test_torchrl_native_env_layout_and_partial_reset():
    pytest.importorskip("jaxmarl")
    from latentworld.integrations.torchrl import LatentTorchRLEnv

    env = LatentTorchRLEnv(latentworld.make_vec("smax-3m", None, 4, obs="decoded", horizon=3, seed=0))
    td = env.rollout(7, break_when_any_done=False)  # random masked actions, auto partial resets
    assert td.batch_size == (4, 7)
    assert td.get(("agents", "observation")).shape == (4, 7, 3, 75)
    assert td.get(("next", "agents", "reward")).shape == (4, 7, 3, 1)
    acts, mask = td.get(("agents", "action")), td.get(("agents", "action_mask"))
    assert bool(mask.gather(-1, acts.unsqueeze(-1)).all())  # the spec's random actions respect masks
    done = td.get(("next", "done")).squeeze(-1)  # [4, 7]
    assert bool(done[:, 2].all()) and bool(done[:, 5].all())  # horizon 3, then afresh
    assert td.get("state").shape == (4, 7, env.venv.state_dim)


def test_torchrl_mappo_trains_in_imagination_and_beats_random_in_real():
    pytest.importorskip("jaxmarl")
    r = _example("torchrl_mappo").train(frames=20_480, eval_episodes=64, seed=0)
    assert r["masked_actions_chosen"] == 0
    assert r["real_return_sampled"] > r["random_return"] + 0.2, r


def test_epymarl_runner_loop_on_the_documented_env_api():
    """EPyMARL (main) is not on PyPI: its EpisodeRunner loop, written to its documented
    MultiAgentEnv API, runs on the registered factory and stores what EPyMARL stores."""
    pytest.importorskip("jaxmarl")
    from latentworld.integrations.epymarl import epymarl_env_fn

    env = epymarl_env_fn(key="smax-3m", common_reward=True, reward_scalarisation="sum", horizon=10, seed=0)
    info = env.get_env_info()
    assert info == {"state_shape": env.get_state_size(), "obs_shape": 75, "n_actions": 8, "n_agents": 3,
                    "episode_limit": 10}
    rng = np.random.default_rng(0)
    for ep in range(3):
        obs, _ = env.reset(seed=ep)
        batch = {"obs": [], "state": [], "avail_actions": [], "actions": [], "reward": [], "terminated": []}
        terminated, t = False, 0
        while not terminated:
            avail = env.get_avail_actions()
            batch["obs"].append(np.stack(env.get_obs()))
            batch["state"].append(env.get_state())
            batch["avail_actions"].append(np.stack(avail))
            actions = [int(rng.choice(np.flatnonzero(m))) for m in avail]
            obs, reward, terminated, truncated, env_info = env.step(actions)
            assert len(obs) == 3 and truncated == env_info["episode_limit"]
            assert env_info["invalid_actions"] == 0
            batch["actions"].append(actions)
            batch["reward"].append(reward)
            batch["terminated"].append(terminated != env_info.get("episode_limit", False))
            t += 1
        assert t <= 10 and np.stack(batch["obs"]).shape == (t, 3, 75)
        assert np.stack(batch["avail_actions"]).shape == (t, 3, 8)
    with pytest.raises(ValueError, match="common_reward"):
        epymarl_env_fn(key="smax-3m", common_reward=False)


def test_epymarl_yaml_reaches_the_factory(tmp_path):
    """The yaml written into an EPyMARL clone carries env_args that the registered factory takes
    as EPyMARL passes them (``**env_args`` plus ``common_reward`` and ``reward_scalarisation``)."""
    pytest.importorskip("jaxmarl")
    import yaml

    from latentworld.integrations.epymarl import epymarl_env_fn, write_env_yaml

    with pytest.raises(FileNotFoundError, match="EPyMARL clone"):
        write_env_yaml(tmp_path)
    (tmp_path / "src" / "config" / "envs").mkdir(parents=True)
    path = write_env_yaml(tmp_path, key="smax-3m", horizon=12, t_max=5000)
    cfg = yaml.safe_load(path.read_text())
    assert cfg["env"] == "latentworld" and cfg["t_max"] == 5000 and cfg["test_greedy"] is True
    assert cfg["env_args"] == {"key": "smax-3m", "model": None, "horizon": 12, "seed": None}
    env = epymarl_env_fn(**cfg["env_args"], common_reward=True, reward_scalarisation="sum")
    assert env.get_env_info()["episode_limit"] == 12


def test_rllib_register_serves_masked_dict_observations_through_rllib_wrapper():
    """The registered creator builds RLlib's ParallelPettingZooEnv over the learned env with
    the masking module's Dict layout; env_config keys override make()'s."""
    pytest.importorskip("jaxmarl")
    pytest.importorskip("ray.rllib")
    from ray.tune.registry import ENV_CREATOR, _global_registry

    from latentworld.integrations import rllib as lw_rllib

    with pytest.raises(ValueError, match="action_mask"):
        lw_rllib.register("smax-3m", action_mask="obs")
    name = lw_rllib.register("smax-3m", horizon=15, name="lw-test-3m")
    env = _global_registry.get(ENV_CREATOR, name)({"horizon": 7, "seed": 0})
    obs, _ = env.reset(seed=0)
    assert set(obs["ally_0"]) == {"observations", "action_mask"}
    assert obs["ally_0"]["observations"].shape == (75,)
    assert env.par_env.core.limit == 7  # env_config overrides register()'s horizon
    assert lw_rllib.shared_policy()["policy_mapping_fn"]("ally_2") == lw_rllib.SHARED
    assert set(lw_rllib.masked_module_spec().rl_module_specs) == {lw_rllib.SHARED}


def test_benchmarl_mappo_trains_in_imagination_and_beats_random_in_real():
    pytest.importorskip("jaxmarl")
    r = _example("benchmarl_mappo").train(frames=20_480, eval_episodes=64, seed=0)
    assert r["masked_actions_chosen_real"] == 0
    assert r["real_return_sampled"] > r["random_return"] + 0.2, r


def test_rllib_ppo_with_action_masking_trains_in_imagination_and_beats_random_in_real():
    """RLlib's new API stack with its ActionMaskingTorchRLModule on action_mask="rllib" Dict
    observations: no masked action in real play, and the policy beats random there."""
    pytest.importorskip("jaxmarl")
    r = _example("rllib_example").train(iterations=3, batch=2000, eval_episodes=64, seed=0)
    assert r["masked_actions_chosen_real"] == 0
    assert r["imagined_steps"] >= 6000
    assert r["real_return_greedy"] > r["random_return"] + 0.5, r
    assert r["real_return_sampled"] > r["random_return"] + 0.05, r


def test_rllib_dict_observation_layout():
    pytest.importorskip("jaxmarl")
    env = latentworld.make("smax-3m", obs="decoded", action_mask="rllib", seed=0)
    obs, infos = env.reset(seed=0)
    assert set(obs["ally_0"]) == {"observations", "action_mask"} and "action_mask" not in infos["ally_0"]
    assert env.observation_space("ally_0")["observations"].shape == (75,)


def test_model_based_example_branches_from_real_data_and_plans_better_than_random():
    pytest.importorskip("jaxmarl")
    # 12 episodes and 64 candidates: with 6 and 32 the margin moved between 0.05 and 0.09 with
    # torch's thread count alone (the sampled latents follow the float rounding)
    r = _example("model_based").run(episodes=12, candidates=64, depth=4, steps=8, seed=0)
    assert r["imagined_return_planner"] > r["imagined_return_random"] + 0.05, r


def test_tianshou_venv_slots_masks_and_episode_ends():
    """Slots are agents x envs with their env's team reward; a done slot returns the observation
    its episode ended on, and ``reset(env_id)`` the next episode's first one; a step of only some
    slots is refused (the agents of an env act at once)."""
    pytest.importorskip("jaxmarl")
    from latentworld.integrations.tianshou import LatentTianshouVectorEnv

    venv = latentworld.make_vec("smax-3m", None, 4, obs="decoded", horizon=3, seed=0)
    env = LatentTianshouVectorEnv(venv)
    obs, infos = env.reset()
    assert len(env) == 12 and obs.obs.shape == (12, 75) and obs.mask.shape == (12, 8) and len(infos) == 12
    for _ in range(3):
        acts = np.array([np.flatnonzero(m)[0] for m in obs.mask])
        obs, rew, term, trunc, infos = env.step(acts)
        assert rew.shape == (12,) and rew[0] == rew[2] and not any(i["invalid_action"] for i in infos)
    done = np.flatnonzero(term | trunc)
    assert len(done) == 12  # horizon 3: every slot ended
    first, _ = env.reset(env_id=done)
    assert not np.allclose(first.obs, obs.obs)  # next episodes' first observations, not the last ones
    with pytest.raises(ValueError, match="steps all 12 slots together"):
        env.step(np.zeros(6, int), id=np.arange(6))


def test_tianshou_dqn_trains_in_imagination_and_beats_random_in_real():
    pytest.importorskip("jaxmarl")
    r = _example("tianshou_dqn").train(env_steps=40_000, eval_episodes=64, seed=0)
    assert r["masked_actions_chosen"] == 0
    assert r["real_return_greedy"] > r["random_return"] + 0.2, r


def test_model_based_example_renders_an_imagined_episode_to_frames():
    pytest.importorskip("jaxmarl")
    frames = _example("model_based").imagined_frames(steps=6, seed=0)
    assert frames.shape[1:] == (256, 256, 3) and 2 <= len(frames) <= 7 and frames.dtype == np.uint8
    assert len({f.tobytes() for f in frames}) > 1  # the units move


def test_epymarl_episode_runner_trains_mappo_in_imagination_and_beats_random_in_real():
    """EPyMARL's episode-runner protocol on the registered factory feeds a learner whole episodes
    (obs, state, avail_actions, actions, reward, terminated), which trains a policy in imagination
    that beats the random policy in real smax-3m."""
    pytest.importorskip("jaxmarl")
    r = _example("epymarl_runner").train(batches=30, eval_episodes=64, seed=0)
    assert r["masked_actions_chosen"] == 0 and r["imagined_steps"] > 5000
    assert r["real_return_sampled"] > r["random_return"] + 0.2, r
