"""The flatland adapter: PettingZoo API, determinism, masks/obs/state invariants, errors."""

import random

import numpy as np
import pytest

pytest.importorskip("flatland")

from pettingzoo.test import parallel_api_test  # noqa: E402

from latentworld.registry import list_envs, make_real  # noqa: E402

ENV_ID = "flatland-30x30-3c-5t"


@pytest.fixture(scope="module")
def env():
    return make_real(ENV_ID)


def random_actions(env, infos, rng):
    return {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"]))) for a in env.agents}


def test_known_names_and_spec(env):
    assert ENV_ID in list_envs("flatland")
    spec = env.env_spec
    assert spec.env_id == ENV_ID and spec.has_wins and spec.noop_action == 0
    assert spec.agents == tuple(f"train_{i}" for i in range(5))
    assert spec.n_actions == 5 and spec.obs_dim == 252
    assert spec.extra["n_trains"] == 5 and spec.extra["n_cities"] == 3
    assert env.observation_space("train_0").shape == (spec.obs_dim,)
    assert env.state_space.shape == (spec.state_dim,)


def test_parallel_api(env):
    parallel_api_test(env, num_cycles=250)


def rollout(env, seed, n_steps=40):
    rng = np.random.default_rng(0)
    obs, infos = env.reset(seed=seed)
    trace = [(obs, env.state(), None)]
    for _ in range(n_steps):
        if not env.agents:
            break
        obs, rew, _, _, infos = env.step(random_actions(env, infos, rng))
        trace.append((obs, env.state(), rew))
    return trace


def test_same_seed_same_rollout(env):
    a, b = rollout(env, seed=7), rollout(make_real(ENV_ID), seed=7)
    assert len(a) == len(b)
    for (oa, sa, ra), (ob, sb, rb) in zip(a, b, strict=True):
        assert all(np.array_equal(oa[k], ob[k]) for k in oa)
        assert np.array_equal(sa, sb) and ra == rb
    other = rollout(env, seed=8, n_steps=0)
    assert not np.array_equal(other[0][1], a[0][1])  # another seed, another map


def test_unseeded_reset_continues_rng(env):
    env.reset(seed=3)
    s1 = env.state()
    env.reset()
    s2 = env.state()
    assert not np.array_equal(s1, s2)
    other = make_real(ENV_ID)
    other.reset(seed=3)
    other.reset()
    assert np.array_equal(other.state(), s2)


def test_reset_leaves_python_random_alone(env):
    random.seed(123)
    expected = random.random()
    random.seed(123)
    env.reset(seed=5)
    assert random.random() == expected


def test_random_episode_invariants_and_end(env):
    spec = env.env_spec
    rng = np.random.default_rng(1)
    obs, infos = env.reset(seed=11)
    steps = 0
    while env.agents:
        state = env.state()
        assert state.dtype == np.float32 and state.shape == env.state_space.shape
        assert np.all(np.isfinite(state))
        limit = round(state[-2] * spec.episode_limit)  # this map's step limit T
        assert state[-3] == pytest.approx(steps / limit) and state[-1] == pytest.approx(1 / max(limit - steps, 1))
        for a in spec.agents:
            o, m = obs[a], infos[a]["action_mask"]
            assert o.dtype == np.float32 and o.shape == (spec.obs_dim,)
            assert np.all(np.isfinite(o)) and o.min() >= -1.0 and o.max() <= 1.0
            assert m.dtype == np.int8 and m.shape == (5,) and m.sum() > 0
            if not infos[a]["alive"]:  # an arrived train: no-op only, zero observation
                assert m.tolist() == [1, 0, 0, 0, 0] and not o.any()
        obs, rew, term, trunc, infos = env.step(random_actions(env, infos, rng))
        assert all(-1.0 <= r <= 0.0 for r in rew.values())
        steps += 1
    assert 0 < steps <= spec.episode_limit
    assert all(term[a] or trunc[a] for a in spec.agents)
    won = {infos[a]["won"] for a in spec.agents}
    assert won == {not any(infos[a]["alive"] for a in spec.agents)}
    assert term["train_0"] == won.pop()  # terminated exactly when every train arrived
    with pytest.raises(RuntimeError):
        env.step({a: 0 for a in spec.agents})


def test_bad_actions_raise(env):
    env.reset(seed=0)
    acts = {a: 0 for a in env.agents}
    with pytest.raises(ValueError):
        env.step({**acts, "train_99": 0})
    with pytest.raises(ValueError):
        env.step({**acts, "train_0": 5})
    with pytest.raises(ValueError):
        env.step({**acts, "train_0": -1})
    with pytest.raises(ValueError):
        env.observation_space("bus_0")
