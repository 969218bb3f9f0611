"""The learned environment: PettingZoo API, determinism, vector/parallel agreement, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pettingzoo.test import parallel_api_test

import latentworld
from latentworld.core.spec import EnvSpec
from latentworld.model import ModelState, WorldModel, WorldModelConfig
from latentworld.model.checkpoint import CheckpointError

SPEC = EnvSpec(env_id="smax-3m", agents=("ally_0", "ally_1", "ally_2"), obs_dim=75, state_dim=72,
               n_actions=8, episode_limit=100, noop_action=4, has_wins=True)
SMALL = {"deter": 32, "hidden": 32, "embed": 32, "stoch": 8, "classes": 8}


def rollout(env, seed: int, steps: int, act_seed: int = 0):
    """(obs, reward, terminated, truncated) per step, with random available actions."""
    rng = np.random.default_rng(act_seed)
    obs, infos = env.reset(seed=seed)
    out = [np.stack([obs[a] for a in env.possible_agents])]
    for _ in range(steps):
        if not env.agents:
            obs, infos = env.reset()
            out.append(np.stack([obs[a] for a in env.possible_agents]))
            continue
        acts = {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"]))) for a in env.agents}
        obs, rew, term, trunc, infos = env.step(acts)
        out.append((np.stack([obs[a] for a in env.possible_agents]), rew["ally_0"], term["ally_0"], trunc["ally_0"]))
    return out


@pytest.mark.parametrize("obs,mask", [("latent", "info"), ("decoded", "info"), ("latent", "obs"), ("decoded", "obs")])
def test_parallel_api(tiny_checkpoint, obs, mask):
    env = latentworld.make("smax-3m", tiny_checkpoint, obs=obs, action_mask=mask, horizon=30)
    parallel_api_test(env, num_cycles=100)
    o, infos = env.reset(seed=3)
    size = 75 if obs == "decoded" else WorldModelConfig(**SMALL).feature_size
    first = o["ally_0"]["observation"] if mask == "obs" else o["ally_0"]
    assert first.shape == (size,) and first.dtype == np.float32
    assert env.observation_space("ally_0") is env.observation_space("ally_2")
    assert env.state().shape == env.state_space.shape == (3 * WorldModelConfig(**SMALL).feature_size,)
    m = o["ally_0"]["action_mask"] if mask == "obs" else infos["ally_0"]["action_mask"]
    assert m.dtype == np.int8 and m.shape == (8,) and m.sum() >= 1


def test_same_seed_same_trajectory_and_horizon(tiny_checkpoint):
    a = rollout(latentworld.make("smax-3m", tiny_checkpoint, horizon=7), seed=5, steps=40)
    b = rollout(latentworld.make("smax-3m", tiny_checkpoint, horizon=7), seed=5, steps=40)
    c = rollout(latentworld.make("smax-3m", tiny_checkpoint, horizon=7), seed=6, steps=40)
    for x, y in zip(a[1:], b[1:]):
        if isinstance(x, tuple):
            np.testing.assert_array_equal(x[0], y[0])
            assert x[1:] == y[1:]
    assert any(not np.array_equal(np.asarray(x[0] if isinstance(x, tuple) else x),
                                  np.asarray(y[0] if isinstance(y, tuple) else y)) for x, y in zip(a, c))
    # An episode never runs longer than the horizon.
    env = latentworld.make("smax-3m", tiny_checkpoint, horizon=7)
    env.reset(seed=0)
    n = 0
    while env.agents:
        _, _, term, trunc, _ = env.step({a: 4 for a in env.agents})
        n += 1
    assert n <= 7 and (trunc["ally_0"] or term["ally_0"]) and env.agents == []
    assert not (term["ally_0"] and trunc["ally_0"])


def test_deterministic_ignores_seed_after_start(tiny_checkpoint):
    env = latentworld.make("smax-3m", tiny_checkpoint, deterministic=True, start="any")
    r1, r2 = rollout(env, seed=1, steps=10), rollout(env, seed=1, steps=10)
    np.testing.assert_array_equal(r1[-1][0], r2[-1][0])


def test_vector_matches_parallel_step_for_step(tiny_checkpoint):
    E, seed = 3, 100
    venv = latentworld.make_vec("smax-3m", tiny_checkpoint, E, horizon=6, obs="decoded")
    envs = [latentworld.make("smax-3m", tiny_checkpoint, horizon=6, obs="decoded") for _ in range(E)]
    out = venv.reset(seed=seed)
    singles = [e.reset(seed=seed + i) for i, e in enumerate(envs)]
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(20):
        for i, e in enumerate(envs):  # the observation every env acts on next
            np.testing.assert_allclose(out.obs[i].numpy(), np.stack([singles[i][0][a] for a in e.possible_agents]),
                                       atol=1e-4)
            np.testing.assert_array_equal(out.action_mask[i].numpy().astype(np.int8),
                                          np.stack([singles[i][1][a]["action_mask"] for a in e.possible_agents]))
        acts = rng.integers(0, 8, (E, 3))
        out = venv.step(torch.as_tensor(acts))
        assert out.reward.shape == (E,) and out.state.shape == (E, venv.state_dim)
        for i, e in enumerate(envs):
            o, r, te, tr, inf = e.step({a: int(acts[i, j]) for j, a in enumerate(e.possible_agents)})
            assert r["ally_0"] == pytest.approx(float(out.reward[i]), abs=1e-5)
            assert (te["ally_0"], tr["ally_0"]) == (bool(out.terminated[i]), bool(out.truncated[i]))
            np.testing.assert_allclose(out.final_obs[i].numpy(), np.stack([o[a] for a in e.possible_agents]), atol=1e-4)
            np.testing.assert_array_equal(out.info["final_action_mask"][i].numpy().astype(np.int8),
                                          np.stack([inf[a]["action_mask"] for a in e.possible_agents]))
            flagged = sum(bool(inf[a].get("invalid_action")) for a in e.possible_agents)
            assert flagged == int(out.info["invalid_actions"][i])
            if not e.agents:
                ends += 1
                o, inf = e.reset()
            singles[i] = (o, inf)
    assert ends >= E * 2  # auto-resets were exercised (horizon 6, 20 steps)
    assert not out.won.any()
    # reset() without a seed moves every env to its seed's next episode, in both.
    out = venv.reset()
    for i, e in enumerate(envs):
        o, _ = e.reset()
        np.testing.assert_allclose(out.obs[i].numpy(), np.stack([o[a] for a in e.possible_agents]), atol=1e-4)


def test_bad_input_messages(tiny_checkpoint):
    env = latentworld.make("smax-3m", tiny_checkpoint, horizon=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="missing keys: \\['ally_2'\\]"):
        env.step({"ally_0": 4, "ally_1": 4})
    with pytest.raises(ValueError, match="unknown keys: \\['enemy_0'\\]"):
        env.step({"ally_0": 4, "ally_1": 4, "ally_2": 4, "enemy_0": 1})
    with pytest.raises(ValueError, match="'ally_1'.*0..7"):
        env.step({"ally_0": 4, "ally_1": 8, "ally_2": 4})
    while env.agents:
        env.step({a: 4 for a in env.agents})
    with pytest.raises(RuntimeError, match="reset"):
        env.step({a: 4 for a in env.possible_agents})
    # Masked actions: "noop" replaces and flags, "raise" refuses naming the agent.
    strict = latentworld.make("smax-3m", tiny_checkpoint, invalid_action="raise")
    loose = latentworld.make("smax-3m", tiny_checkpoint)
    _, infos = strict.reset(seed=1)
    loose.reset(seed=1)
    masked = {a: int(np.flatnonzero(infos[a]["action_mask"] == 0)[0]) if (infos[a]["action_mask"] == 0).any() else 4
              for a in strict.agents}
    if all(infos[a]["action_mask"].all() for a in strict.agents):
        pytest.skip("the tiny model predicts every action available at this start state")
    with pytest.raises(ValueError, match="not available"):
        strict.step(masked)
    _, _, _, _, linfos = loose.step(masked)
    assert any(linfos[a].get("invalid_action") for a in loose.possible_agents)
    with pytest.raises(ValueError, match="obs must be one of"):
        latentworld.make("smax-3m", tiny_checkpoint, obs="pixels")
    with pytest.raises(ValueError, match="action_mask must be one of"):
        latentworld.make("smax-3m", tiny_checkpoint, action_mask="both")


def test_vector_bad_input(tiny_checkpoint):
    venv = latentworld.make_vec("smax-3m", tiny_checkpoint, 2)
    with pytest.raises(RuntimeError, match="reset"):
        venv.step(torch.zeros(2, 3, dtype=torch.long))
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        venv.step(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="'ally_2' in env 1 is out of range: valid actions are 0..7"):
        venv.step(torch.tensor([[4, 4, 4], [4, 4, 9]]))


def test_wrong_env_and_missing_default_checkpoint(tiny_checkpoint):
    with pytest.raises(CheckpointError, match="trained on 'smax-3m', not 'smax-8m'"):
        latentworld.make("smax-8m", tiny_checkpoint)
    with pytest.raises(CheckpointError, match="not 'smax-8m'"):
        latentworld.make("smax-8m", latentworld.load_model(tiny_checkpoint))
    assert latentworld.default_checkpoint("smax-8m") is None
    with pytest.raises(FileNotFoundError, match="(?s)latentworld collect smax-8m.*latentworld train-model smax-8m"):
        latentworld.make("smax-8m")


def test_registered_default_checkpoint_and_pettingzoo_registry(tiny_checkpoint):
    import pettingzoo

    latentworld.register_checkpoint("smax-3m", tiny_checkpoint)
    try:
        env = latentworld.make("smax-3m", seed=4)
        env2 = pettingzoo.make("parallel", "latentworld/smax-3m", seed=4)
        o1, _ = env.reset()
        o2, _ = env2.reset()
        np.testing.assert_array_equal(o1["ally_0"], o2["ally_0"])
    finally:
        latentworld.registry._CHECKPOINTS.pop("smax-3m", None)


def test_nan_in_model_raises_floating_point_error():
    torch.manual_seed(0)
    model = WorldModel(SPEC, WorldModelConfig(**SMALL))
    env = latentworld.make("smax-3m", model, seed=0)
    env.reset()
    with torch.no_grad():
        model.a_gru.weight_hh.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="step 1"):
        env.step({a: 4 for a in env.agents})


def test_fast_step_equals_model_step():
    torch.manual_seed(1)
    for kw in ({}, {"single_level": True}, {"outcome": False}, {"reward_bins": 33}):
        model = WorldModel(SPEC, WorldModelConfig(**SMALL, **kw)).eval()
        with torch.no_grad():  # a non-zero bonus and two-hot output, so that both paths must use them
            if model.win_bonus is not None:
                model.win_bonus.fill_(0.8)
            if kw.get("reward_bins"):
                torch.nn.init.normal_(model.reward_head[-1].weight)
        from latentworld.env.backends.torch_fast import FastStepper

        fast = FastStepper(model)
        state = model.initial(4)
        with torch.inference_mode():
            for _ in range(5):
                acts = torch.randint(0, 8, (4, 3))
                u = torch.rand(4, 2, 3, 8)
                ref = model.step(state, acts, True, None, u)
                got = fast.step(state, acts, True, u)
                for x, y in zip(ref[1:], got[1:]):
                    torch.testing.assert_close(x.float(), y.float(), atol=1e-5, rtol=1e-5)
                state = ref[0]
            # training the model in place is picked up by the fast path
            model.reward_head[0].weight.mul_(2.0)
            torch.testing.assert_close(model.step(state, acts, False)[3], fast.step(state, acts, False)[3],
                                       atol=1e-5, rtol=1e-5)


def test_bare_model_starts_from_zero_state():
    torch.manual_seed(0)
    model = WorldModel(SPEC, WorldModelConfig(**SMALL))
    venv = latentworld.make_vec("smax-3m", model, 4, seed=0)
    out = venv.reset()
    feats = ModelState.zeros(1, 3, 32, 64).agent_features()
    assert torch.equal(out.obs[0], feats[0])
    assert out.action_mask.any(-1).all()


def test_uncertainty_served_and_penalised(tiny_checkpoint):
    """Every step serves the ensemble's disagreement; the penalty lowers the reward by exactly
    penalty x its mean over agents, and nothing else changes."""
    plain = latentworld.make_vec("smax-3m", tiny_checkpoint, 4, horizon=6, seed=0)
    taxed = latentworld.make_vec("smax-3m", tiny_checkpoint, 4, horizon=6, seed=0, uncertainty_penalty=2.0)
    r0 = plain.reset()
    taxed.reset()
    assert r0.info["uncertainty"].shape == (4, 3) and not r0.info["uncertainty"].any()
    acts = torch.full((4, 3), 4)
    for _ in range(5):
        a, b = plain.step(acts), taxed.step(acts)
        u = a.info["uncertainty"]
        assert u.shape == (4, 3) and bool((u > 0).all()) and torch.allclose(u, b.info["uncertainty"])
        assert torch.allclose(b.reward, a.reward - 2.0 * u.mean(-1), atol=1e-6)
        assert torch.equal(a.obs, b.obs) and torch.equal(a.terminated, b.terminated)
    env = latentworld.make("smax-3m", tiny_checkpoint, horizon=6)
    _, infos = env.reset(seed=0)
    assert infos["ally_0"]["uncertainty"] == 0.0
    *_, infos = env.step({a: 4 for a in env.agents})
    assert all(infos[a]["uncertainty"] > 0 for a in env.possible_agents)
    with pytest.raises(ValueError, match="uncertainty_penalty"):
        latentworld.make_vec("smax-3m", tiny_checkpoint, 2, uncertainty_penalty=-1.0)


def test_uncertainty_penalty_needs_an_ensemble():
    model = WorldModel(SPEC, WorldModelConfig(**SMALL, ensemble=0))
    assert latentworld.make_vec("smax-3m", model, 2).reset().info["uncertainty"].shape == (2, 3)
    with pytest.raises(ValueError, match="ensemble"):
        latentworld.make_vec("smax-3m", model, 2, uncertainty_penalty=0.5)


def test_snapshot_reset_to_and_plan(tiny_checkpoint):
    env = latentworld.make_vec("smax-3m", tiny_checkpoint, 3, horizon=50, seed=0)
    env.reset(seed=0)
    acts = torch.full((3, 3), 4)
    for _ in range(2):
        env.step(acts)
    snap = env.get_state()
    a = [env.step(acts) for _ in range(3)]
    env.set_state(snap)
    b = [env.step(acts) for _ in range(3)]
    for x, y in zip(a, b):  # back to the snapshot: the same future, noise included
        assert torch.equal(x.obs, y.obs) and torch.equal(x.reward, y.reward)
    # planning scores candidates from env 1 without moving it
    env.set_state(snap)
    cands = torch.full((5, 4, 3), 4)
    cands[1:, :, 0] = torch.arange(4)[:, None]  # candidates 1-4: agent 0 moves instead of the no-op
    scores = env.plan(cands, env_index=1, seed=3)
    assert scores.returns.shape == (5,) and scores.rewards.shape == (5, 4) and scores.invalid.shape == (5, 4, 3)
    again = env.plan(cands[:1].expand(2, -1, -1), env_index=1, seed=3)
    assert torch.allclose(again.returns, scores.returns[:1].expand(2))  # common random numbers
    assert torch.equal(env.step(acts).obs, a[0].obs)  # plan() left the envs where they were
    # branch from given states: obs and masks come from those states
    model = env.model
    states = model.initial(3).map(lambda x: x + torch.randn_like(x) * 0.1)
    out = env.reset_to(states)
    assert torch.allclose(out.obs, env.core.observe(states))
    assert env.step(acts).obs.shape == out.obs.shape
    with pytest.raises(ValueError, match="states must be"):
        env.reset_to(model.initial(2))
    with pytest.raises(ValueError, match="actions must be"):
        env.plan(torch.zeros(2, 3, dtype=torch.long))


def _use(env, kind: str) -> None:
    """Run ``env``'s steps through the compiled path (the default on a CPU) or the torch one."""
    if kind == "torch":
        env._step_fn = env.core.step
    assert env._step_fn.__self__.__class__.__name__ == {"jit": "JitCore", "torch": "LatentCore"}[kind]


@pytest.mark.parametrize("kind", ["jit"])
@pytest.mark.parametrize("obs", ["latent", "decoded"])
def test_fast_steps_equal_torch_step(tiny_checkpoint, obs, kind):
    """The single env steps compiled (numba) on a CPU; the torch step gives the same episodes."""
    fast = latentworld.make("smax-3m", tiny_checkpoint, obs=obs, horizon=12, uncertainty_penalty=0.5)
    slow = latentworld.make("smax-3m", tiny_checkpoint, obs=obs, horizon=12, uncertainty_penalty=0.5)
    _use(fast, kind)
    _use(slow, "torch")
    a, b = rollout(fast, seed=5, steps=40), rollout(slow, seed=5, steps=40)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, tuple):
            np.testing.assert_allclose(x[0], y[0], atol=1e-4)
            assert x[1] == pytest.approx(y[1], abs=1e-5) and x[2:] == y[2:]
        else:
            np.testing.assert_allclose(x, y, atol=1e-4)


def test_reward_and_termination_hooks(tiny_checkpoint):
    """reward_fn / termination_fn see (obs, actions, next_obs, model's value) as served and
    replace the model's reward / termination; the rest of the step is unchanged."""
    seen = []

    def reward_fn(obs, actions, next_obs, reward):
        seen.append((obs.clone(), actions.clone(), next_obs.clone(), reward.clone()))
        return (actions == 4).float().mean(-1)  # team reward [E]: the share of no-ops

    def termination_fn(obs, actions, next_obs, terminated):
        return next_obs[:, 0, 0] > 1e9  # never: only the horizon ends an episode

    plain = latentworld.make_vec("smax-3m", tiny_checkpoint, 4, obs="decoded", horizon=6, seed=0)
    hooked = latentworld.make_vec("smax-3m", tiny_checkpoint, 4, obs="decoded", horizon=6, seed=0,
                                  reward_fn=reward_fn, termination_fn=termination_fn)
    b = hooked.reset()
    plain.reset()
    same = torch.ones(4, dtype=torch.bool)  # envs where the plain env has not restarted
    acts = torch.tensor([[4, 4, 4], [0, 4, 4], [0, 1, 4], [0, 1, 2]])
    for t in range(6):
        prev, taken = b.obs, torch.where(b.action_mask.gather(-1, acts[..., None])[..., 0], acts, 4)  # masked: no-op
        a, b = plain.step(acts), hooked.step(acts)
        obs, act, nxt, model_r = seen[-1]
        assert torch.equal(obs, prev) and torch.equal(nxt, b.final_obs) and torch.equal(act, taken)
        assert torch.allclose(model_r.mean(-1)[same], a.reward[same], atol=1e-6)  # what the model predicted
        assert torch.allclose(b.reward, (taken == 4).float().mean(-1))
        assert not b.terminated.any() and bool(b.truncated.all()) == (t == 5)
        same &= ~a.done
    env = latentworld.make("smax-3m", tiny_checkpoint, horizon=3, reward_fn=lambda o, a, n, r: r * 0 + 7.0)
    env.reset(seed=0)
    _, rew, *_ = env.step({a: 4 for a in env.agents})
    assert rew == {a: 7.0 for a in env.possible_agents}
    bad = latentworld.make_vec("smax-3m", tiny_checkpoint, 2, reward_fn=lambda o, a, n, r: r[:, :1, None])
    bad.reset()
    with pytest.raises(ValueError, match="reward_fn must return"):
        bad.step(torch.full((2, 3), 4))
    with pytest.raises(TypeError, match="termination_fn must be a callable"):
        latentworld.make_vec("smax-3m", tiny_checkpoint, 2, termination_fn=1.0)


def test_render_rgb_array_and_ansi(tiny_checkpoint):
    """Frames and text come from the decoded observations; no render mode renders nothing;
    an unknown mode and a render before reset are refused."""
    pytest.importorskip("jaxmarl")
    env = latentworld.make("smax-3m", tiny_checkpoint, render_mode="rgb_array", seed=0)
    with pytest.raises(RuntimeError, match="before reset"):
        env.render()
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8 and frame.std() > 0
    text_env = latentworld.make("smax-3m", tiny_checkpoint, obs="decoded", render_mode="ansi", seed=0)
    text_env.reset(seed=0)
    text = text_env.render()
    assert text.startswith("smax-3m (imagined)  t=0") and all(a in text for a in text_env.possible_agents)
    assert latentworld.make("smax-3m", tiny_checkpoint).render() is None
    with pytest.raises(ValueError, match="render_mode 'human' is not supported"):
        latentworld.make("smax-3m", tiny_checkpoint, render_mode="human")


def test_smax_geometry_reads_unit_positions_from_real_observations():
    """On real smax-3m observations the decoding of positions is exact: every ally sees the
    same enemy at the same place (its own position plus its scaled view)."""
    pytest.importorskip("jaxmarl")
    from latentworld.adapters.smax_geometry import SMAXGeometry
    from latentworld.env.render import ansi_text

    env = latentworld.make_real("smax-3m")
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        obs, *_ = env.step({a: 1 for a in env.agents})  # move towards the enemy
    o = np.stack([obs[a] for a in env.possible_agents])  # [N, F]
    geo = SMAXGeometry.for_map("3m")
    alive = o[:, -geo.own_size] > 0  # own health
    allies, enemies = geo.units(o, alive)
    assert alive.any() and ((allies[alive, :2] > 0) & (allies[alive, :2] < 32)).all()
    sight = geo.sight[0]
    others = o[:, : 5 * geo.unit_size].reshape(3, 5, geo.unit_size)[:, 2:]  # [N, M, U] views of the enemies
    seen = (others[..., 0] > 0.05) & alive[:, None]
    assert seen.sum(0).max() >= 2  # seed 0, 5 steps: two allies alive, each seeing every enemy
    j = int(seen.sum(0).argmax())  # an enemy two allies see: both views place it at the same point
    views = allies[seen[:, j], :2] + others[seen[:, j], j, 1:3] * sight
    assert np.allclose(views, views[0], atol=1e-3) and np.allclose(enemies[j, :2], views[0], atol=1e-3)
    assert "enemy_0" in ansi_text(env.env_spec, o, np.ones(3, bool), 8, 0.0)


@pytest.mark.parametrize("kind", ["jit"])
@pytest.mark.parametrize("kw", [{"single_level": True}, {"reward_global": False}, {"ensemble": 0}])
def test_fast_steps_equal_torch_step_for_other_model_configs(kw, kind):
    """The fast steps' merged heads and ensemble hold for single-level models, a reward head on
    agent features and no ensemble (random weights: the arithmetic, not the training, is tested)."""
    torch.manual_seed(0)
    model = WorldModel(SPEC, WorldModelConfig(**SMALL, **kw)).eval()
    fast = latentworld.make("smax-3m", model, obs="decoded", horizon=12)
    slow = latentworld.make("smax-3m", model, obs="decoded", horizon=12)
    _use(fast, kind)
    _use(slow, "torch")
    for x, y in zip(rollout(fast, seed=2, steps=20), rollout(slow, seed=2, steps=20)):
        if isinstance(x, tuple):
            np.testing.assert_allclose(x[0], y[0], atol=1e-4)
            assert x[1] == pytest.approx(y[1], abs=1e-5) and x[2:] == y[2:]
        else:
            np.testing.assert_allclose(x, y, atol=1e-4)


@pytest.mark.parametrize("kind", ["jit"])
def test_fast_steps_follow_weight_changes(kind):
    """A learner that keeps training the model in place (the loop does) is served the new
    weights: the fast paths re-read them when any parameter changed."""
    torch.manual_seed(0)
    model = WorldModel(SPEC, WorldModelConfig(**SMALL)).eval()
    fast = latentworld.make("smax-3m", model, horizon=12)
    slow = latentworld.make("smax-3m", model, horizon=12)
    _use(fast, kind)
    _use(slow, "torch")
    rollout(fast, seed=1, steps=3)
    with torch.no_grad():
        model.reward_head[-1].bias.add_(2.0)  # every reward moves by far more than the tolerance
    a, b = rollout(fast, seed=4, steps=6), rollout(slow, seed=4, steps=6)
    for x, y in zip(a, b):
        if isinstance(x, tuple):
            assert x[1] == pytest.approx(y[1], abs=1e-5)


def test_learned_env_options_come_from_one_config():
    """make, make_vec and both env classes take the learned env's options as LatentEnvConfig
    fields (keywords or a config); a misspelt option names the valid ones."""
    from latentworld.env import LatentEnvConfig

    cfg = LatentEnvConfig(obs="decoded", horizon=7)
    one = latentworld.make("smax-3m", config=cfg, seed=0)
    vec = latentworld.make_vec("smax-3m", None, 2, config=cfg, uncertainty_penalty=0.5, seed=0)
    assert one.config == cfg and vec.config.obs == "decoded" and vec.config.horizon == 7
    assert vec.config.uncertainty_penalty == 0.5 and cfg.uncertainty_penalty == 0.0  # config not mutated
    assert latentworld.make("smax-3m", obs="decoded", horizon=7, seed=0).config == cfg
    with pytest.raises(TypeError, match="unknown learned-env option.*horizn.*LatentEnvConfig"):
        latentworld.make("smax-3m", horizn=5)
    with pytest.raises(ValueError, match="obs must be one of"):
        latentworld.make_vec("smax-3m", None, 2, obs="pixels")


@pytest.mark.parametrize("kind", ["jit", "torch"])
def test_a_drawn_win_ends_the_episode_pays_the_bonus_and_is_reported(kind):
    """A model whose outcome head is sure of a win: the first step ends the episode, won, with the
    win bonus in the reward; the vector env reports the same, and a sure loss ends it unwon."""
    torch.manual_seed(0)
    model = WorldModel(SPEC, WorldModelConfig(**SMALL)).eval()
    with torch.no_grad():
        model.win_bonus.fill_(0.75)
        last = model.cont_head[-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor([-8.0, 8.0, -8.0]))  # P(win) ~ 1
        model.reward_head[-1].weight.zero_()
        model.reward_head[-1].bias.fill_(0.0)  # dense reward 0
    env = latentworld.make("smax-3m", model, horizon=10)
    if kind == "torch":
        env._step_fn = env.core.step
    obs, infos = env.reset(seed=0)
    obs, rew, term, trunc, infos = env.step({a: int(np.flatnonzero(infos[a]["action_mask"])[0]) for a in env.agents})
    assert all(term.values()) and not any(trunc.values()) and env.agents == []
    assert infos["ally_0"]["won"] is True and rew["ally_0"] == pytest.approx(0.75, abs=1e-4)
    venv = latentworld.make_vec("smax-3m", model, 4, horizon=10, seed=0)
    step = venv.reset()
    out = venv.step(step.action_mask.float().argmax(-1))
    assert out.terminated.all() and out.won.all() and torch.allclose(out.reward, torch.full((4,), 0.75), atol=1e-4)
    with torch.no_grad():
        last.bias.copy_(torch.tensor([-8.0, -8.0, 8.0]))  # a sure end without a win
    step = venv.reset()
    out = venv.step(step.action_mask.float().argmax(-1))
    assert out.terminated.all() and not out.won.any() and out.reward.abs().max() < 1e-4
