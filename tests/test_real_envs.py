"""Real environments behind latentworld.make_real: PettingZoo API, conventions, bad input."""

import sys

import numpy as np
import pytest
from conftest import play_random
from pettingzoo.test import parallel_api_test

import latentworld


def test_list_envs_covers_every_family():
    ids = latentworld.list_envs()
    for must in ["smax-3m", "smax-3s5z", "smax-smacv2_10_units", "smac-3m", "smacv2-protoss_5_vs_5",
                 "mpe-simple_spread_v3", "flatland-30x30-3c-5t"]:
        assert must in ids
    assert latentworld.list_envs("smax") == sorted(i for i in ids if i.startswith("smax-"))
    assert len(latentworld.list_envs("smax")) == 14


def test_unknown_env_id_suggests_close_matches():
    with pytest.raises(ValueError, match=r"unknown env id 'smax-3mm'.*'smax-3m'"):
        latentworld.make_real("smax-3mm")
    with pytest.raises(ValueError, match="unknown env id"):
        latentworld.make_real("nonsense")


def test_missing_optional_dependency_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpe2", None)  # makes `import mpe2...` fail like an absent package
    monkeypatch.delitem(sys.modules, "mpe2.simple_spread_v3", raising=False)
    with pytest.raises(latentworld.MissingDependencyError, match=r"latentworld\[mpe\]"):
        latentworld.make_real("mpe-simple_spread_v3")


@pytest.mark.parametrize("name", ["simple_spread_v3", "simple_adversary_v3", "simple_speaker_listener_v4"])
def test_mpe_passes_parallel_api_test(name):
    pytest.importorskip("mpe2")
    env = latentworld.make_real(f"mpe-{name}")
    parallel_api_test(env, num_cycles=60)
    spec = env.env_spec
    # one shared space object for every agent, on every call
    assert all(env.observation_space(a) is env.observation_space(spec.agents[0]) for a in spec.agents)
    assert env.action_space(spec.agents[0]) is env.action_space(spec.agents[-1])


def test_mpe_speaker_listener_masks_actions_it_does_not_have():
    pytest.importorskip("mpe2")
    env = latentworld.make_real("mpe-simple_speaker_listener_v4")
    _, infos = env.reset(seed=0)
    masks = {a: infos[a]["action_mask"] for a in env.agents}
    assert masks["speaker_0"].tolist() == [1, 1, 1, 0, 0]  # the speaker has 3 actions
    assert masks["listener_0"].tolist() == [1, 1, 1, 1, 1]
    _, _, _, _, infos = env.step({"speaker_0": 4, "listener_0": 1})
    assert infos["speaker_0"]["invalid_action"] is True
    assert infos["listener_0"]["invalid_action"] is False  # present on every step (TorchRL builds specs from reset)


def test_smax_passes_parallel_api_test(smax3m):
    parallel_api_test(smax3m, num_cycles=250)


def test_smax_conventions_and_random_episode(smax3m):
    env = smax3m
    spec = env.env_spec
    assert (spec.obs_dim, spec.state_dim, spec.n_actions, spec.noop_action) == (75, 72, 8, 4)
    obs, infos = env.reset(seed=3)
    assert env.state().shape == env.state_space.shape == (72,)
    for a in env.agents:
        m = infos[a]["action_mask"]
        assert m.dtype == np.int8 and m.shape == (8,) and m.sum() > 0
        assert obs[a].dtype == np.float32 and obs[a].shape == (75,)
    steps, infos = play_random(env, seed=3)
    assert env.agents == []
    # random play on 3m ends in a fight well before the 100-step limit, the same way for a seed
    assert steps < spec.episode_limit and play_random(env, seed=3)[0] == steps
    assert all(infos[a]["won"] in (True, False) for a in spec.agents)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step({a: 4 for a in spec.agents})


def test_smax_same_seed_same_episode(smax3m):
    def rollout(seed):
        rng = np.random.default_rng(0)
        obs, infos = smax3m.reset(seed=seed)
        traj = [np.stack(list(obs.values()))]
        while smax3m.agents:
            acts = {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"]))) for a in smax3m.agents}
            obs, rew, *_, infos = smax3m.step(acts)
            traj.append(np.stack(list(obs.values())))
        return np.stack(traj)

    a, b, c = rollout(7), rollout(7), rollout(8)
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_smax_focus_fire_wins_and_reports_it(smax3m):
    """Attacking the first available enemy wins often on 3m; wins must show in infos."""
    wins = []
    for seed in range(6):
        obs, infos = smax3m.reset(seed=seed)
        while smax3m.agents:
            acts = {}
            for a in smax3m.agents:
                m = infos[a]["action_mask"]
                attack = np.flatnonzero(m[5:])
                acts[a] = 5 + int(attack[0]) if len(attack) else 1  # else move south
            *_, infos = smax3m.step(acts)
        wins.append(infos["ally_0"]["won"])
    assert any(wins)


def test_bad_actions_raise_clear_errors(smax3m):
    env = smax3m
    env.reset(seed=0)
    good = {a: 4 for a in env.agents}
    with pytest.raises(ValueError, match=r"unknown keys: \['ally_9'\]"):
        env.step({**good, "ally_9": 0})
    with pytest.raises(ValueError, match=r"missing keys: \['ally_2'\]"):
        env.step({k: v for k, v in good.items() if k != "ally_2"})
    with pytest.raises(ValueError, match=r"action 8 for 'ally_1' is out of range: valid actions are 0..7"):
        env.step({**good, "ally_1": 8})
    with pytest.raises(ValueError, match="ally_0"):
        env.step({**good, "ally_0": np.array([1, 2])})
    with pytest.raises(ValueError, match="unknown agent"):
        env.observation_space("nobody")


def test_masked_action_noop_by_default_and_raise_on_request(smax3m):
    env = smax3m
    _, infos = env.reset(seed=0)
    masked = int(np.flatnonzero(infos["ally_0"]["action_mask"] == 0)[0])  # an attack out of range
    *_, infos = env.step({"ally_0": masked, "ally_1": 4, "ally_2": 4})
    assert infos["ally_0"]["invalid_action"] is True
    assert infos["ally_1"]["invalid_action"] is False

    strict = latentworld.make_real("smax-3m", invalid_action="raise")
    _, infos = strict.reset(seed=0)
    with pytest.raises(ValueError, match=r"action \d+ for 'ally_0' is not available"):
        strict.step({"ally_0": masked, "ally_1": 4, "ally_2": 4})
    with pytest.raises(ValueError, match="invalid_action must be one of"):
        latentworld.make_real("smax-3m", invalid_action="ignore")


def test_register_any_parallel_env():
    pytest.importorskip("mpe2")
    from mpe2 import simple_spread_v3

    latentworld.register("my-spread", lambda **kw: simple_spread_v3.parallel_env(continuous_actions=False, **kw))
    try:
        assert "my-spread" in latentworld.list_envs()
        env = latentworld.make_real("my-spread", N=2)
        assert len(env.possible_agents) == 2
        with pytest.raises(ValueError, match="already registered"):
            latentworld.register("my-spread", simple_spread_v3.parallel_env)
        with pytest.raises(ValueError, match="built-in prefix"):
            latentworld.register("smax-custom", simple_spread_v3.parallel_env)
    finally:
        latentworld.unregister("my-spread")
    assert "my-spread" not in latentworld.list_envs()
