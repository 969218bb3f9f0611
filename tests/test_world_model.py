"""Fast tests of the bi-level world model (small configs, fixed seeds)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from latentworld.core.spec import EnvSpec
from latentworld.model import ModelState, WorldModel, WorldModelConfig
from latentworld.model.world_model import batch_to_torch

SPEC = EnvSpec(env_id="smax-3m", agents=("ally_0", "ally_1", "ally_2"), obs_dim=75, state_dim=72,
               n_actions=8, episode_limit=100, noop_action=4, has_wins=True)
N, D, S, A = 3, 75, 72, 8
VARIANTS = {
    "categorical": {},
    "gaussian": {"latent": "gaussian"},
    "single_level": {"single_level": True},
    "obs_fusion": {"obs_fusion": True},
    "continuation_only": {"outcome": False},
    "two_hot_reward": {"reward_bins": 41},
}


def small_cfg(**kw) -> WorldModelConfig:
    return WorldModelConfig(**{"deter": 32, "hidden": 32, "embed": 32, "stoch": 8, "classes": 8, **kw})


def make_model(seed: int = 0, **kw) -> WorldModel:
    torch.manual_seed(seed)
    return WorldModel(SPEC, small_cfg(**kw))


def random_batch(B: int = 4, T: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """A batch in the sampler's format; sequence 1 ends early (padding), agent 2 of seq 0 dies."""
    r = np.random.default_rng(seed)
    b = {
        "obs": np.tanh(r.normal(size=(B, T, N, 4)) @ r.normal(size=(4, D))).astype(np.float32),  # low rank
        "state": r.normal(size=(B, T, S)).astype(np.float32),
        "actions": r.integers(0, A, (B, T, N)).astype(np.int64),
        "action_mask": (r.random((B, T, N, A)) > 0.4).astype(np.int8),
        "rewards": r.normal(size=(B, T, N)).astype(np.float32),
        "alive": np.ones((B, T, N), bool),
        "has_action": np.ones((B, T), bool),
        "terminated": np.zeros((B, T), bool),
        "truncated": np.zeros((B, T), bool),
        "valid": np.ones((B, T), bool),
        "is_first": np.zeros((B, T), bool),
    }
    b["is_first"][:, 0] = True
    b["rewards"][:, 0] = 0.0
    end = T - 4  # sequence 1: last real row, then padding
    b["has_action"][1, end] = False
    b["terminated"][1, end] = True
    b["valid"][1, end + 1:] = False
    for k in b:
        if k != "valid":
            b[k][1, end + 1:] = 0
    b["alive"][0, 3:, 2] = False
    b["actions"][0, 3:, 2] = SPEC.noop_action
    return b


def test_config_roundtrip_and_errors():
    cfg = WorldModelConfig(latent="gaussian", stoch=16, single_level=True)
    d = json.loads(json.dumps(cfg.to_dict()))
    assert WorldModelConfig.from_dict(d) == cfg
    with pytest.raises(ValueError, match="bogus"):
        WorldModelConfig.from_dict({**d, "bogus": 1})
    with pytest.raises(ValueError, match="latent"):
        WorldModelConfig(latent="beta")
    assert WorldModelConfig().latent_size == 16 * 16
    assert WorldModelConfig.preset("large").latent_size == 32 * 32
    with pytest.raises(ValueError, match="huge"):
        WorldModelConfig.preset("huge")
    assert cfg.feature_size == cfg.deter + 16


def test_reward_scale_defaults_per_env_family():
    """Left None, the reward loss weight is the env family's: 100 for Flatland (rare rewards at
    the time limit), 1 elsewhere; the model (and so its checkpoint) holds the filled-in value."""
    assert WorldModelConfig().reward_scale is None
    assert WorldModelConfig().for_env("flatland-30x30-2c-2t").reward_scale == 100.0
    assert WorldModelConfig().for_env("smax-3m").reward_scale == 1.0
    assert WorldModelConfig(reward_scale=3.0).for_env("flatland-30x30-2c-2t").reward_scale == 3.0
    assert WorldModel(SPEC).cfg.reward_scale == 1.0
    flat = EnvSpec.from_dict({**SPEC.to_dict(), "env_id": "flatland-30x30-2c-2t"})
    assert WorldModel(flat).cfg.reward_scale == 100.0
    assert WorldModel(flat).cfg.to_dict()["reward_scale"] == 100.0
    with pytest.raises(ValueError, match="reward_scale"):
        WorldModelConfig(reward_scale=-1.0)


def test_batch_to_torch_dtypes():
    tb = batch_to_torch(random_batch(2, 5))
    assert tb["obs"].dtype == torch.float32 and tb["actions"].dtype == torch.int64
    assert tb["valid"].dtype == torch.bool and tb["alive"].dtype == torch.bool
    assert tb["obs"].shape == (2, 5, N, D)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_shapes(variant):
    m = make_model(**VARIANTS[variant])
    cfg, B, T = m.cfg, 4, 10
    Fs = cfg.deter + cfg.latent_size
    states, stats = m.observe(random_batch(B, T))
    assert states.h_a.shape == (B, T, N, cfg.deter) and states.z_g.shape == (B, T, N, cfg.latent_size)
    assert states.agent_features().shape == (B, T, N, Fs)
    assert set(stats) == ({"post_a", "prior_a", "embed"} if cfg.single_level
                          else {"post_a", "prior_a", "post_g", "prior_g", "embed"})
    assert stats["embed"].shape == (B, T, N, cfg.embed)
    start = states.at_time(3)
    g = torch.Generator().manual_seed(0)
    nxt, fa, fg, rew, cont, mask, win = m.step(start, torch.zeros(B, N, dtype=torch.long), generator=g)
    assert fa.shape == fg.shape == (B, N, Fs) and rew.shape == (B, N) and cont.shape == (B,)
    assert mask.shape == (B, N, A) and mask.dtype == torch.bool and mask.any(-1).all()
    assert ((cont >= 0) & (cont <= 1)).all()
    heads = m.predict_heads(nxt)
    assert heads["obs"].shape == (B, N, D) and heads["avail_probs"].shape == (B, N, A)

    def policy(feat, mask):
        assert feat.shape == (B, N, Fs)
        return torch.multinomial(mask.float().flatten(0, 1), 1, generator=g).view(B, N)

    out = m.imagine(start, policy, horizon=5, generator=g)
    assert out["agent_features"].shape == (B, 6, N, Fs) and out["global_features"].shape == (B, 6, N, Fs)
    assert out["actions"].shape == (B, 5, N) and out["reward"].shape == (B, 5, N)
    assert out["cont"].shape == (B, 5) and out["action_mask"].shape == (B, 6, N, A)
    taken = out["action_mask"][:, :-1].gather(-1, out["actions"][..., None])
    assert taken.all() and out["action_mask"].any(-1).all()
    if cfg.single_level:
        assert not any(k.startswith("g_") for k in m.state_dict()) and (out["global_features"] == 0).all()


def test_action_mask_never_all_false():
    m = make_model()
    with torch.no_grad():
        m.avail_head[-1].bias.fill_(-100.0)  # every action predicted unavailable
    _, _, _, _, _, mask, _ = m.step(m.initial(2), torch.zeros(2, N, dtype=torch.long), sample=False)
    assert mask.any(-1).all()
    assert (mask.sum(-1) == 1).all() and mask[..., SPEC.noop_action].all()


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "obs_fusion"])  # fusion: centralized by design
def test_decentralization(variant):
    """Agent i's features on the posterior path depend on its own obs and actions only."""
    m = make_model(**VARIANTS[variant]).eval()
    b = random_batch(3, 8, seed=1)
    i, others = 1, [0, 2]
    with torch.no_grad():
        base, _ = m.observe(b, sample=False)
        c = {k: v.copy() for k, v in b.items()}
        c["obs"][:, :, others] += np.random.default_rng(2).normal(size=c["obs"][:, :, others].shape) * 3
        c["actions"][:, :, others] = (c["actions"][:, :, others] + 3) % A
        c["state"] = c["state"] * -2 + 1
        changed, _ = m.observe(c, sample=False)
        own = {k: v.copy() for k, v in b.items()}
        own["obs"][:, 3, i] = np.random.default_rng(3).normal(size=(3, D)) * 5
        mine, _ = m.observe(own, sample=False)
    fa, fa2, fa3 = base.agent_features(), changed.agent_features(), mine.agent_features()
    torch.testing.assert_close(fa2[:, :, i], fa[:, :, i], rtol=0, atol=1e-6)
    assert (fa2[:, :, others] - fa[:, :, others]).abs().amax() > 1e-3
    if not m.cfg.single_level:  # the global level does see the others' actions and the state
        assert (changed.global_features()[:, :, i] - base.global_features()[:, :, i]).abs().amax() > 1e-3
    torch.testing.assert_close(fa3[:, :3, i], fa[:, :3, i], rtol=0, atol=1e-6)
    assert (fa3[:, 3, i] - fa[:, 3, i]).abs().amax(-1).min() > 1e-3  # in every sequence
    # the agent-level posterior alone (no global state, no other agents) gives the same features
    tb = batch_to_torch(b)
    h, z = torch.zeros(3, m.cfg.deter), torch.zeros(3, m.cfg.latent_size)
    with torch.no_grad():
        for t in range(8):
            prev = tb["actions"][:, t - 1, i] if t > 0 else None
            h, z, _ = m.observe_agent(h, z, tb["obs"][:, t, i], prev, sample=False)
            ok = tb["valid"][:, t]  # padded rows are fed differently (no-op actions), skip them
            torch.testing.assert_close(torch.cat([h, z], -1)[ok], fa[ok, t, i], rtol=0, atol=1e-5)


@pytest.mark.parametrize("variant", ["categorical", "single_level"])
def test_encode_step_matches_observe(variant):
    m = make_model(**VARIANTS[variant]).eval()
    b = random_batch(2, 6, seed=3)
    tb = batch_to_torch(b)
    with torch.no_grad():
        seq, _ = m.observe(b, sample=False)
        st = m.initial(2)
        for t in range(6):
            prev = tb["actions"][:, t - 1] if t > 0 else None
            st = m.encode_step(st, tb["obs"][:, t], prev, tb["state"][:, t], sample=False)
            ok = tb["valid"][:, t]  # padded rows are fed differently (no-op actions), skip them
            for k, v in st.to_tensors().items():
                torch.testing.assert_close(v[ok], seq.at_time(t).to_tensors()[k][ok], rtol=0, atol=1e-5)
        dec = m.encode_step(st, tb["obs"][:, 0], tb["actions"][:, 0], None, sample=False)  # no state
    assert torch.isfinite(dec.global_features()).all()


def test_is_first_resets_state():
    m = make_model().eval()
    b = random_batch(2, 8, seed=4)
    b["is_first"][0, 4] = True  # a new episode starts mid-window in sequence 0
    c = {k: v.copy() for k, v in b.items()}
    c["obs"][0, :4] += 5.0
    c["actions"][0, :4] = (c["actions"][0, :4] + 1) % A
    with torch.no_grad():
        s1, _ = m.observe(b, sample=False)
        s2, _ = m.observe(c, sample=False)
    for k, v in s1.to_tensors().items():
        torch.testing.assert_close(s2.to_tensors()[k][0, 4:], v[0, 4:], rtol=0, atol=1e-6)


def _loss(m: WorldModel, b, seed: int = 0):
    torch.manual_seed(seed)
    return m.loss(b)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_loss_finite_and_overfits(variant):
    m = make_model(**VARIANTS[variant])
    b = batch_to_torch(random_batch(4, 10))
    opt = torch.optim.Adam(m.parameters(), lr=5e-3)
    first, metrics = m.loss(b)
    assert torch.isfinite(first) and all(np.isfinite(v) for v in metrics.values())
    assert ("kl_global" in metrics) != m.cfg.single_level
    for _ in range(30):
        loss, _ = m.loss(b)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), m.cfg.grad_clip)
        opt.step()
    last, end = m.loss(b)
    assert end["loss"] < 0.7 * metrics["loss"] and end["obs_loss"] < 0.7 * metrics["obs_loss"]


def test_padding_garbage_is_masked():
    m = make_model()
    b = random_batch()
    pad = ~b["valid"]  # [B, T]
    g = {k: v.copy() for k, v in b.items()}
    g["obs"][pad] = np.nan
    g["state"][pad] = np.inf
    g["rewards"][pad] = 1e6
    g["actions"][pad] = 999  # out of range
    g["action_mask"][pad] = 7
    g["alive"][pad] = True
    g["has_action"][pad] = True
    g["terminated"][pad] = True
    g["is_first"][pad] = True
    clean, mc = _loss(m, b)
    dirty, md = _loss(m, g)
    assert torch.isfinite(dirty)
    assert mc == pytest.approx(md, rel=1e-5, abs=1e-6)
    dirty.backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_dead_agent_obs_does_not_change_obs_loss():
    m = make_model()
    b = random_batch()
    dead = ~b["alive"]  # [B, T, N]: agent 2 of sequence 0 from row 3 on
    assert dead.any()
    c = {k: v.copy() for k, v in b.items()}
    c["obs"][dead] = 1e3
    _, m1 = _loss(m, b)
    _, m2 = _loss(m, c)
    assert m1["obs_loss"] == pytest.approx(m2["obs_loss"], rel=1e-6)
    c["obs"][0, 4, 0] += 1.0  # a living agent's obs does count
    _, m3 = _loss(m, c)
    assert m3["obs_loss"] != pytest.approx(m1["obs_loss"], rel=1e-6)


def test_model_state_helpers():
    m = make_model()
    s, _ = m.observe(random_batch(2, 5), sample=False)
    assert s.flatten_time([0, 2, 4]).h_a.shape == (6, N, m.cfg.deter)
    torch.testing.assert_close(s.flatten_time([0, 2, 4]).z_a[1], s.at_time(2).z_a[0])
    st = s.at_time(4).detach()
    z = m.initial(2)
    mixed = st.where(torch.tensor([True, False]), z)
    assert (mixed.h_a[0] == 0).all() and torch.equal(mixed.h_a[1], st.h_a[1])
    per_agent = st.where(torch.tensor([[True, False, False]] * 2), z)
    assert (per_agent.z_a[:, 0] == 0).all() and torch.equal(per_agent.z_a[:, 1:], st.z_a[:, 1:])
    back = ModelState.from_tensors({f"x.{k}": v for k, v in st.to_tensors().items()}, prefix="x.")
    assert all(torch.equal(a, b) for a, b in zip(back.to_tensors().values(), st.to_tensors().values()))
    assert ModelState.stack([st, z], 1).h_g.shape == (2, 2, N, m.cfg.deter)
    assert ModelState.cat([st, z]).index(slice(1, 3)).z_g.shape == (2, N, m.cfg.latent_size)
    assert st.to("cpu").agent_features().shape == (2, N, m.cfg.feature_size)


@pytest.mark.parametrize("reward_global", [True, False])
def test_reward_head_sees_the_global_state_only_when_reward_global(reward_global):
    """A dead agent's own observations cannot tell a won last step from a lost one; the global
    state can. The reward prediction follows the state only with ``reward_global``."""
    m = make_model(reward_global=reward_global)
    b = random_batch()
    c = {k: v.copy() for k, v in b.items()}
    c["state"][:, 5:] += 3.0  # another global state from row 5 on; every observation the same
    with torch.no_grad():
        r1 = m.predict_heads(m.observe(b, sample=False)[0], obs=False)["reward"]  # [B, T, N]
        r2 = m.predict_heads(m.observe(c, sample=False)[0], obs=False)["reward"]
    changed = not torch.allclose(r1[:, 5:], r2[:, 5:])
    assert changed is reward_global
    assert torch.allclose(r1[:, :5], r2[:, :5])


def test_checkpoints_from_before_reward_global_keep_agent_features():
    old = {k: v for k, v in small_cfg().to_dict().items() if k != "reward_global"}
    cfg = WorldModelConfig.from_dict(old)
    assert cfg.reward_global is False and WorldModelConfig().reward_global is True
    assert WorldModel(SPEC, cfg).reward_head[0].in_features == cfg.feature_size
    assert make_model().reward_head[0].in_features == 2 * small_cfg().feature_size
    assert make_model(single_level=True).reward_head[0].in_features == small_cfg().feature_size


def test_disagreement_ensemble_trains_alone_and_measures_doubt():
    m = make_model(ensemble=3)
    assert m.disagreement(m.initial(2)).shape == (2, N)
    assert not make_model(ensemble=0).disagreement(m.initial(2)).any()  # no ensemble: zeros
    b = random_batch()
    loss, terms = _loss(m, b)
    assert terms["ensemble_loss"] > 0
    # detached inputs and targets: the ensemble's loss moves no other parameter
    torch.manual_seed(1)
    out = m.loss(b)[0]
    others = [p for n, p in m.named_parameters() if not n.startswith("ens.")]
    g_all = torch.autograd.grad(out, others, allow_unused=True)
    m2 = make_model(ensemble=3)
    m2.load_state_dict(m.state_dict())
    m2.cfg.ensemble_scale = 0.0
    torch.manual_seed(1)
    g_none = torch.autograd.grad(m2.loss(b)[0], [p for n, p in m2.named_parameters() if not n.startswith("ens.")],
                                 allow_unused=True)
    for a, c in zip(g_all, g_none):
        assert (a is None and c is None) or torch.allclose(a, c, atol=1e-6)
    # trained on one batch, the heads agree there (their disagreement falls)
    opt = torch.optim.Adam(m.ens.parameters(), lr=3e-3)
    with torch.no_grad():
        seen, _ = m.observe(b, sample=False)
    before = m.disagreement(seen).mean().item()
    for _ in range(150):
        opt.zero_grad()
        m.loss(b)[0].backward()
        opt.step()
    with torch.no_grad():
        assert m.disagreement(seen).mean().item() < 0.5 * before
    with pytest.raises(ValueError, match="ensemble"):
        small_cfg(ensemble=1)
    with pytest.raises(ValueError, match="ensemble_every"):
        small_cfg(ensemble_every=0)


def test_ensemble_trains_on_every_kth_row():
    """ensemble_every=k: the ensemble's loss is the mean over rows off, off + k, ... only (its
    rows are thinned; the other terms are unchanged)."""
    b = random_batch()
    full, thin = make_model(ensemble=3, ensemble_every=1), make_model(ensemble=3, ensemble_every=3)
    thin.load_state_dict(full.state_dict())
    t_full, t_thin = _loss(full, b)[1], _loss(thin, b)[1]  # the same seed: the same latent draws
    for k in t_full:
        if k not in ("ensemble_loss", "loss"):
            assert t_full[k] == pytest.approx(t_thin[k], rel=1e-5), k
    assert t_thin["ensemble_loss"] != pytest.approx(t_full["ensemble_loss"], rel=1e-6)
    torch.manual_seed(0)  # _loss's seed: replay its draws
    states, st = thin.observe(b)
    off = int(torch.randint(3, ()))  # the offset thin.loss drew after the same observe
    pred = thin._ens_predict(states.h_a[:, off::3], states.z_g[:, off::3])
    b_t = thin._inputs(b)
    alive = b_t["valid"][..., None] & b_t["alive"]
    per_row = ((pred - st["embed"][:, off::3]) ** 2).mean((0, -1))
    assert t_thin["ensemble_loss"] == pytest.approx(float(per_row[alive[:, off::3]].mean().detach()), rel=1e-4)


def test_obs_fusion_posterior_reads_every_agent_and_refuses_decentralized_encoding():
    """With obs_fusion an agent's posterior moves when another agent's observation changes
    (without it, it cannot); encoding one agent alone is refused with a clear error."""
    b = random_batch()
    other = {**b, "obs": b["obs"].copy()}
    other["obs"][:, :, 1] += 1.0  # agent 1 sees something else
    for fusion in (False, True):
        m = make_model(obs_fusion=fusion)
        with torch.no_grad():
            s1 = m.observe(b)[1]["post_a"][:, :, 0]  # agent 0's posterior [B, T, ...]
            s2 = m.observe(other)[1]["post_a"][:, :, 0]
        assert torch.allclose(s1[:, :1], s2[:, :1]) is not fusion  # first rows: only obs differ
    state = m.initial(2)
    with pytest.raises(ValueError, match="decoded"):
        m.observe_agent(state.h_a, state.z_a, torch.zeros(2, N, D), None)
    nxt = m.encode_step(state, torch.zeros(2, N, D), None, torch.zeros(2, S))  # all agents together: fine
    assert nxt.z_a.shape == (2, N, small_cfg().latent_size)
    with pytest.raises(ValueError, match="fusion_heads"):
        small_cfg(obs_fusion=True, fusion_heads=5)


def test_outcome_head_learns_the_win_and_its_bonus():
    """Won last steps pay 1 more than the dense reward: the running bonus finds it, the outcome
    head tells won from lost ends, and the reward head is left with the dense part."""
    m = make_model(seed=0)
    b = random_batch(6, 10, seed=2)
    b["rewards"] = np.full_like(b["rewards"], 0.1)
    b["rewards"][:, 0] = 0.0
    b["has_action"][:, -1] = False
    b["terminated"][:, -1] = True
    b["terminated"][1] = False
    b["terminated"][1, 10 - 4] = True
    b["won"] = np.array([True, False, True, False, True, True])
    for e in np.flatnonzero(b["won"]):  # the won episodes' last row pays the bonus
        b["rewards"][e, -1] += 1.0
    b["obs"][~b["won"], -1] += 2.0  # lost ends look different
    tb = batch_to_torch(b)
    opt = torch.optim.Adam(m.parameters(), lr=5e-3)
    for _ in range(150):
        loss, _ = m.loss(tb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(m.win_bonus) == pytest.approx(1.0, abs=0.15)
    with torch.no_grad():
        heads = m.predict_heads(m.observe(tb, sample=False)[0], obs=False)
    win_end = heads["win"][[0, 2, 4, 5], -1]
    assert (win_end > 0.7).all() and heads["win"][3, -1] < 0.3 and heads["win"][:, 1:5].max() < 0.2
    assert heads["cont"][:, 2:5].min() > 0.8
    # the reward of a won last step carries the bonus, mid-episode rows only the dense reward
    assert heads["reward"][[0, 2, 4, 5], -1].mean() > 0.8
    assert heads["reward"][:, 2:5].mean() == pytest.approx(0.1, abs=0.1)


def test_checkpoint_configs_from_before_outcome_load_without_it():
    cfg = WorldModelConfig.from_dict({k: v for k, v in small_cfg().to_dict().items() if k != "outcome"})
    assert cfg.outcome is False and WorldModel(SPEC, cfg).win_bonus is None
    with pytest.raises(ValueError, match="reward_bins"):
        small_cfg(reward_bins=1)
