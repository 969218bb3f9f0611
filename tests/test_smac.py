"""SMAC / SMACv2 adapter: PettingZoo API, masks, dead units, wins, time-outs, missing StarCraft.

StarCraft II cannot be installed on CI, so most tests wrap ``StarCraft2EnvStandIn``
(tests/smac_standin.py), which follows smacv2's StarCraft2Env API; the last test runs the real
game and is skipped when smacv2 or StarCraft II is absent.
"""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test
from smac_standin import StarCraft2EnvStandIn

from latentworld.adapters.smac import (
    SMACParallelEnv,
    StarCraftUnavailableError,
    make_smacv2,
    smacv2_config,
    starcraft_missing,
)
from latentworld.registry import list_envs, make_real

STOP, EAST = 1, 4


def make_3m(**kw):
    standin = StarCraft2EnvStandIn(map_name="3m", seed=0, **kw.pop("standin_kw", {}))
    return make_real("smac-3m", sc2_env=standin, **kw), standin


def act(env, **override):
    return {a: override.get(a, STOP) for a in env.agents}


def test_parallel_api_test_passes():
    env, _ = make_3m()
    parallel_api_test(env, num_cycles=200)


def test_spec_and_reset():
    env, standin = make_3m()
    spec = env.env_spec
    assert spec.env_id == "smac-3m" and spec.agents == ("agent_0", "agent_1", "agent_2")
    assert (spec.n_actions, spec.episode_limit, spec.noop_action) == (9, 60, 0)
    assert spec.has_wins and spec.extra == {"map_name": "3m", "n_enemies": 3}
    assert (spec.obs_dim, spec.state_dim) == (standin.get_obs_size(), standin.get_state_size())
    obs, infos = env.reset(seed=0)
    assert all(o.dtype == np.float32 and o.shape == (spec.obs_dim,) for o in obs.values())
    assert env.state().dtype == np.float32 and env.state().shape == (spec.state_dim,)
    for i, a in enumerate(env.agents):
        assert infos[a]["alive"] and infos[a]["action_mask"].dtype == np.int8
        np.testing.assert_array_equal(infos[a]["action_mask"], standin.get_avail_agent_actions(i))
    assert "smac-3m" in list_envs("smac") and "smacv2-zerg_20_vs_20" in list_envs("smacv2")


def test_masked_action_replaced_or_raised():
    env, standin = make_3m()
    env.reset()
    # enemies start out of range: attacking enemy 0 (action 6) is masked
    _, _, _, _, infos = env.step(act(env, agent_0=6))
    assert infos["agent_0"]["invalid_action"] and infos["agent_1"]["invalid_action"] is False
    # a live unit cannot take SMAC's no-op: the replacement sent to StarCraft is "stop"
    assert standin.last_action[0].argmax() == STOP
    _, _, _, _, infos = env.step(act(env, agent_1=0))
    assert infos["agent_1"]["invalid_action"] and standin.last_action[1].argmax() == STOP

    strict, _ = make_3m(invalid_action="raise")
    strict.reset()
    with pytest.raises(ValueError, match="not available"):
        strict.step(act(strict, agent_0=6))


@pytest.mark.parametrize("continuing_episode", [True, False])
def test_dead_agent_then_truncation(continuing_episode):
    env, standin = make_3m(standin_kw={"continuing_episode": continuing_episode})
    env.reset()
    for _ in range(2):  # agent_0 walks into range of all enemies, the others stay back
        env.step(act(env, agent_0=EAST))
    infos = None
    for _ in range(10):
        _, rew, term, trunc, infos = env.step(act(env))
        if not infos["agent_0"]["alive"]:
            break
    assert not infos["agent_0"]["alive"] and infos["agent_1"]["alive"]
    np.testing.assert_array_equal(infos["agent_0"]["action_mask"], [1] + [0] * 8)
    _, _, _, _, infos = env.step(act(env, agent_0=0))  # the dead unit's only action
    assert infos["agent_0"]["invalid_action"] is False
    _, _, _, _, infos = env.step(act(env))  # stop is masked for the dead: replaced by no-op
    assert infos["agent_0"]["invalid_action"] and standin.last_action[0].argmax() == 0
    assert env.last_arrays.obs[0].sum() == 0  # dead units observe nothing
    steps = standin._episode_steps
    while env.agents:
        _, rew, term, trunc, infos = env.step(act(env, agent_0=0))
        steps += 1
    assert steps == 60 == env.env_spec.episode_limit
    assert all(trunc.values()) and not any(term.values())
    assert all(info["won"] is False for info in infos.values())
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})
    obs, infos = env.reset()
    assert env.agents == list(env.possible_agents) and all(i["alive"] for i in infos.values())


def test_win_reported_at_the_end():
    env, standin = make_3m()
    env.reset()
    for _ in range(2):
        env.step({a: EAST for a in env.agents})
    total = 0.0
    while env.agents:
        actions = {}
        for a, mask in zip(env.agents, env.last_arrays.action_mask, strict=True):
            attacks = np.flatnonzero(mask[6:])
            actions[a] = 6 + attacks[0] if mask[0] == 0 and attacks.size else int(np.argmax(mask))
        _, rew, term, trunc, infos = env.step(actions)
        assert len(set(rew.values())) == 1  # the team reward, for every agent
        total += rew["agent_0"]
        if env.agents:
            assert all("won" not in i for i in infos.values())
    assert all(term.values()) and not any(trunc.values())
    assert all(info["won"] is True for info in infos.values())
    assert total > 0 and standin._episode_steps < 60
    assert env.agents == []
    env.reset()
    assert len(env.agents) == 3


def test_reset_seed_reaches_the_wrapped_env():
    class Wrapper:  # shaped like smacv2's StarCraftCapabilityEnvWrapper: the env is in .env
        def __init__(self, env):
            self.env = env

        def __getattr__(self, name):
            return getattr(self.env, name)

    inner = StarCraft2EnvStandIn(map_name="3m")
    env = make_smacv2("protoss_5_vs_5", sc2_env=Wrapper(inner))
    assert env.env_spec.env_id == "smacv2-protoss_5_vs_5"
    obs_a, _ = env.reset(seed=3)
    assert inner.seed() == 3
    obs_b, _ = make_real("smac-3m", sc2_env=StarCraft2EnvStandIn(map_name="3m")).reset(seed=3)
    for a in obs_a:
        np.testing.assert_array_equal(obs_a[a], obs_b[a])


def test_kwargs_with_sc2_env_rejected_and_close():
    standin = StarCraft2EnvStandIn(map_name="3m")
    with pytest.raises(TypeError, match="sc2_env"):
        make_real("smac-3m", sc2_env=standin, difficulty="7")
    env = SMACParallelEnv(standin, "smac-3m")
    env.close()
    assert standin.closed


def test_smacv2_config_follows_the_benchmark():
    cfg = smacv2_config("zerg_10_vs_10")
    assert cfg["map_name"] == "10gen_zerg"
    cap = cfg["capability_config"]
    assert (cap["n_units"], cap["n_enemies"]) == (10, 10)
    assert cap["team_gen"]["unit_types"] == ["zergling", "baneling", "hydralisk"]
    assert cap["start_positions"]["dist_type"] == "surrounded_and_reflect"


@pytest.mark.parametrize(
    "env_id, smax",
    [("smac-3m", "smax-3m"), ("smacv2-protoss_5_vs_5", "smax-smacv2_5_units"),
     ("smacv2-terran_20_vs_20", "smax-smacv2_20_units")],
)
def test_without_starcraft_a_clear_error(env_id, smax, monkeypatch, tmp_path):
    monkeypatch.setenv("SC2PATH", str(tmp_path / "no_starcraft_here"))
    with pytest.raises(StarCraftUnavailableError) as err:
        make_real(env_id)
    msg = str(err.value)
    assert smax in msg and "SC2PATH" in msg
    assert "pip install git+https://github.com/oxwhirl/smacv2.git" in msg


def test_map_without_smax_counterpart(monkeypatch, tmp_path):
    monkeypatch.setenv("SC2PATH", str(tmp_path / "no_starcraft_here"))
    with pytest.raises(StarCraftUnavailableError, match="No SMAX scenario"):
        make_real("smac-MMM")


_MISSING = starcraft_missing()


@pytest.mark.skipif(_MISSING is not None, reason=f"real StarCraft II unavailable: {_MISSING}")
def test_real_starcraft_parallel_api():
    env = make_real("smac-3m", seed=0)
    try:
        parallel_api_test(env, num_cycles=100)
    finally:
        env.close()
