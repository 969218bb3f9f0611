"""The bundled learners: masking, decentralization, mixers, truncation bootstrapping,
checkpoints, and learning on real SMAX."""

import json
import math

import numpy as np
import pytest
import torch

from latentworld.algos import (
    MAPPO,
    MFAC,
    MFQ,
    MAPPOConfig,
    MFConfig,
    PolicyCheckpointError,
    QLearner,
    QMixConfig,
    QMixMixer,
    QPlexMixer,
    VDNMixer,
    load_policy,
)
from latentworld.algos.policy import Policy
from latentworld.env.protocol import TensorVecEnv, VecStep


class ConstantEnv:
    """E envs, N agents: obs is constant, reward 1 each step, every episode cut (truncated)
    after ``horizon`` steps. Correct bootstrapping gives V = 1 / (1 - γ) at every step; treating
    the cut as an end would give a time-averaged value well below it. ``nan_after`` makes
    observations NaN after that many steps."""

    def __init__(self, num_envs=8, n_agents=2, horizon=5, nan_after=None):
        self.num_envs, self.n_agents, self.n_actions, self.obs_dim, self.state_dim = num_envs, n_agents, 3, 4, 6
        self.device = torch.device("cpu")
        self.horizon, self.nan_after, self.t, self.total = horizon, nan_after, 0, 0

    def _step(self, reward, truncated):
        E, N = self.num_envs, self.n_agents
        obs = torch.ones(E, N, self.obs_dim)  # [E, N, F]
        if self.nan_after is not None and self.total >= self.nan_after:
            obs = obs * float("nan")
        state = torch.ones(E, self.state_dim)
        f = torch.zeros(E, dtype=torch.bool)
        return VecStep(obs, state, torch.ones(E, N, self.n_actions, dtype=torch.bool), torch.ones(E, N, dtype=torch.bool),
                       torch.full((E,), reward), f, torch.full((E,), truncated), f, obs, state)

    def reset(self, seed=None):
        self.resets = getattr(self, "resets", 0) + 1
        self.t = 0
        return self._step(0.0, False)

    def step(self, actions):
        self.t += 1
        self.total += 1
        cut = self.t == self.horizon
        if cut:
            self.t = 0
        return self._step(1.0, cut)


def random_inputs(E=64, N=3, F=10, A=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(E, N, F, generator=g)
    mask = torch.rand(E, N, A, generator=g) < 0.3
    mask[..., 2] |= ~mask.any(-1)  # never all masked
    return obs, mask


def learners():
    return {
        "mappo": MAPPO(10, 12, 3, 6),
        "mappo-gru": MAPPO(10, 12, 3, 6, MAPPOConfig(recurrent=True, hidden=32)),
        "qmix": QLearner(10, 12, 3, 6),
        "qplex": QLearner(10, 12, 3, 6, QMixConfig(mixer="qplex")),
        "mfq": MFQ(10, 12, 3, 6),
        "mfac": MFAC(10, 12, 3, 6),
    }


@pytest.mark.parametrize("name", ["mappo", "mappo-gru", "qmix", "qplex", "mfq", "mfac"])
@pytest.mark.parametrize("deterministic", [True, False])
def test_masked_actions_are_never_chosen(name, deterministic):
    agent = learners()[name]
    assert isinstance(agent, Policy)
    if isinstance(agent, QLearner):
        agent.epsilon = 0.5  # half the actions random: those must respect the mask too
    if isinstance(agent, MFQ):
        agent.temperature = 10.0  # Boltzmann close to uniform: must still respect the mask
    chosen = torch.zeros(6, dtype=torch.long)
    for seed in range(20):
        obs, mask = random_inputs(seed=seed)
        acts = agent.act(obs, mask, deterministic=deterministic)
        assert acts.shape == (64, 3) and acts.dtype == torch.long
        assert mask.gather(-1, acts.unsqueeze(-1)).all()
        chosen += torch.bincount(acts.flatten(), minlength=6)
        agent.reset(torch.rand(64) < 0.2)
    if not deterministic:
        assert (chosen > 0).all()  # sampling explores every action somewhere


@pytest.mark.parametrize("recurrent", [False, True])
def test_mappo_is_decentralized(recurrent):
    agent = MAPPO(10, 12, 3, 6, MAPPOConfig(recurrent=recurrent, hidden=32))
    obs, mask = random_inputs(E=32)
    before = agent.action_probs(obs, mask)
    assert torch.allclose(before.sum(-1), torch.ones(32, 3))
    changed = obs.clone()
    changed[:, 1] = torch.randn(32, 10) * 5  # another agent's observation only
    after = agent.action_probs(changed, mask)
    assert torch.equal(before[:, [0, 2]], after[:, [0, 2]])
    assert not torch.allclose(before[:, 1], after[:, 1])


def perturbed(mixer: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random large weights, so monotonicity cannot hold by the accident of initialisation."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in mixer.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 2)
    return mixer


@pytest.mark.parametrize("make", [lambda: QMixMixer(4, 7), lambda: QPlexMixer(4, 5, 7)], ids=["qmix", "qplex"])
def test_mixers_are_monotonic_in_every_agent_utility(make):
    for seed in range(5):
        mixer = perturbed(make(), seed)
        g = torch.Generator().manual_seed(100 + seed)
        q = torch.randn(256, 4, generator=g, requires_grad=True)
        v = q.detach() + torch.rand(256, 4, generator=g)  # V_i ≥ Q_i like a greedy max
        state = torch.randn(256, 7, generator=g) * 10
        actions = torch.randint(5, (256, 4), generator=g)
        q_tot = mixer(q, v, state, actions)
        assert q_tot.shape == (256,)
        (grad,) = torch.autograd.grad(q_tot.sum(), q)
        assert (grad >= 0).all()
        assert (grad > 0).float().mean() > 0.9  # and not trivially flat


def test_vdn_is_the_sum_and_qplex_weights_are_non_negative():
    q = torch.randn(32, 4)
    assert torch.allclose(VDNMixer()(q, q, torch.randn(32, 7), torch.zeros(32, 4, dtype=torch.long)), q.sum(-1))
    qplex = perturbed(QPlexMixer(4, 5, 7), 0)
    state, actions = torch.randn(512, 7) * 10, torch.randint(5, (512, 4))
    lam = qplex.advantage_weights(state, actions)
    assert lam.shape == (512, 4) and (lam > 0).all()
    w = qplex.hyper_w(qplex.state_norm(state)).abs()
    assert (w >= 0).all()
    # at the greedy joint action (Q = V) Q_tot is the sum of the transformed values only
    v = torch.randn(512, 4)
    b = qplex.hyper_b(qplex.state_norm(state))
    assert torch.allclose(qplex(v, v, state, actions), ((w + 1e-10) * v + b).sum(-1), atol=1e-4)


@pytest.mark.parametrize("recurrent, critic_state", [(False, True), (True, False)])
def test_mappo_bootstraps_truncated_episodes_from_the_final_observation(recurrent, critic_state):
    env = ConstantEnv(horizon=5)
    assert isinstance(env, TensorVecEnv)
    cfg = MAPPOConfig(gamma=0.5, rollout_len=7, hidden=32, epochs=4, critic_lr=3e-3, recurrent=recurrent,
                      critic_state=critic_state)
    agent = MAPPO(4, 6, 2, 3, cfg)
    hist = agent.learn(env, 8 * 7 * 60, progress=False)  # rollouts of 7 steps cross episode ends
    assert len(hist) == 60 and hist[-1]["env_steps"] == 8 * 7 * 60
    assert all(np.isfinite(r["policy_loss"]) and np.isfinite(r["value_loss"]) for r in hist)
    assert hist[-1]["mean_return"] == pytest.approx(5.0)  # 5 steps of reward 1
    v = agent._value(torch.ones(1, 2, 4), torch.ones(1, 6))
    # 1 / (1 - 0.5) = 2; cutting the trace at truncation would average (2 - 2^-k) over k ≈ 1.6
    assert v.mean().item() == pytest.approx(2.0, abs=0.12)


@pytest.mark.parametrize("td_lambda", [0.0, 0.8])
def test_qlearner_bootstraps_truncated_episodes_from_the_final_observation(td_lambda):
    env = ConstantEnv(horizon=5)
    cfg = QMixConfig(mixer="vdn", gamma=0.5, td_lambda=td_lambda, chunk_len=7, batch_size=16, learning_starts=0,
                     steps_per_update=10, target_update_interval=20, hidden=32, lr=3e-3)
    agent = QLearner(4, 6, 2, 3, cfg)
    agent.learn(env, 8 * 5 * 100, progress=False)
    # the first step of an episode: no memory, no previous action
    q, _ = agent._q(agent.qnet, torch.ones(1, 2, 4), torch.full((1, 2), -1), torch.zeros(1, 2, 32))
    q_tot = q.max(-1).values.sum().item()  # VDN: Q_tot = Σ_i max_a Q_i
    assert q_tot == pytest.approx(2.0, abs=0.15)


@pytest.mark.parametrize("name", ["mappo", "mappo-gru", "qmix", "qplex", "mfq", "mfac"])
def test_save_load_gives_identical_actions(tmp_path, name):
    agent = learners()[name]
    with torch.no_grad():  # move away from the initialisation the loader would also produce
        for net in (getattr(agent, "actor", None), getattr(agent, "qnet", None)):  # MFQ's ā input too
            if net is not None:
                for p in net.parameters():
                    p.add_(torch.randn_like(p) * 0.3)
    agent.save(tmp_path / "p")
    loaded = load_policy(tmp_path / "p")
    assert type(loaded) is type(agent)
    obs, mask = random_inputs()
    for _ in range(3):  # recurrent memory evolves identically too
        a, b = agent.act(obs, mask, deterministic=True), loaded.act(obs, mask, deterministic=True)
        assert torch.equal(a, b)
    if isinstance(agent, MAPPO):
        assert torch.allclose(agent.action_probs(obs, mask), loaded.action_probs(obs, mask))
    meta = json.loads((tmp_path / "p" / "policy.json").read_text())
    assert meta["algo"] == agent.algo and meta["dims"]["n_actions"] == 6


def test_corrupted_or_mismatched_checkpoints_raise_clear_errors(tmp_path):
    MAPPO(10, 12, 3, 6).save(tmp_path / "ok")
    root = tmp_path / "ok"
    file = root / json.loads((root / "policy.json").read_text())["weights"]
    weights = file.read_bytes()
    file.write_bytes(weights[: len(weights) // 2])
    with pytest.raises(PolicyCheckpointError, match="corrupted or truncated"):
        MAPPO.load(root)
    file.write_bytes(weights)
    with pytest.raises(PolicyCheckpointError, match="not 'qmix'"):
        QLearner.load(root)
    meta = json.loads((root / "policy.json").read_text())
    meta["dims"]["obs_dim"] = 11
    (root / "policy.json").write_text(json.dumps(meta))
    with pytest.raises(PolicyCheckpointError, match="shape mismatches"):
        load_policy(root)
    (root / "policy.json").write_text("{not json")
    with pytest.raises(PolicyCheckpointError, match="corrupted"):
        load_policy(root)
    with pytest.raises(PolicyCheckpointError, match="is missing"):
        load_policy(tmp_path / "nothing")


@pytest.mark.parametrize("make", [lambda: MAPPO(4, 6, 2, 3, MAPPOConfig(rollout_len=4)),
                                  lambda: QLearner(4, 6, 2, 3, QMixConfig(chunk_len=4, learning_starts=0)),
                                  lambda: MFQ(4, 6, 2, 3, MFConfig(rollout_len=4, learning_starts=0)),
                                  lambda: MFAC(4, 6, 2, 3, MFConfig(rollout_len=4, learning_starts=0))],
                         ids=["mappo", "qmix", "mfq", "mfac"])
def test_nan_observations_raise_floating_point_error_naming_the_iteration(make):
    with pytest.raises(FloatingPointError, match="iteration 2"):
        make().learn(ConstantEnv(nan_after=4 * 2 + 1), 10_000, progress=False)  # vector steps


@pytest.mark.parametrize("make", [lambda: MAPPO(4, 6, 2, 3, MAPPOConfig(rollout_len=4)),
                                  lambda: QLearner(4, 6, 2, 3, QMixConfig(chunk_len=4, learning_starts=0)),
                                  lambda: MFQ(4, 6, 2, 3, MFConfig(rollout_len=4, learning_starts=0)),
                                  lambda: MFAC(4, 6, 2, 3, MFConfig(rollout_len=4, learning_starts=0))],
                         ids=["mappo", "qmix", "mfq", "mfac"])
def test_learning_in_chunks_continues_the_same_env(make):
    agent, env = make(), ConstantEnv(horizon=5)
    agent.learn(env, 8 * 4 * 3, progress=False)
    hist = agent.learn(env, 8 * 4 * 3, progress=False)
    assert env.resets == 1 and env.total == 24  # no reset: episodes go on across the calls
    assert hist[-1]["env_steps"] == 8 * 4 * 6
    if isinstance(agent, QLearner):
        assert agent.replay.size == 8 * 6  # one chunk per env per iteration, none lost
    if isinstance(agent, MFQ | MFAC):
        assert agent.replay.size == 8 * 4 * 6  # every env step, none lost
    other = ConstantEnv(horizon=5)
    agent.learn(other, 8 * 4, progress=False)
    assert other.resets == 1


@pytest.mark.parametrize("recurrent", [False, True])
def test_mappo_dual_buffer_updates_on_the_last_k_rollouts_too(recurrent):
    agent = MAPPO(4, 6, 2, 3, MAPPOConfig(rollout_len=4, dual_buffer=2, recurrent=recurrent, hidden=32))
    seen, update = [], agent._update

    def spy(it, obs, *rest):
        seen.append(obs.shape[1])  # envs in this update's batch
        return update(it, obs, *rest)

    agent._update = spy
    hist = agent.learn(ConstantEnv(num_envs=8), 8 * 4 * 4, progress=False)  # 4 rollouts of 8 envs
    assert seen == [8, 16, 24, 24] and len(hist) == 4  # fresh + up to 2 stored rollouts
    assert all(math.isfinite(r["policy_loss"]) for r in hist)
    plain = MAPPO(4, 6, 2, 3, MAPPOConfig(rollout_len=4, recurrent=recurrent, hidden=32))
    plain.learn(ConstantEnv(num_envs=8), 8 * 4 * 4, progress=False)
    obs, mask = random_inputs(E=16, N=2, F=4, A=3)
    assert not torch.equal(agent.action_probs(obs, mask), plain.action_probs(obs, mask))  # the old rollouts count


def test_env_that_does_not_fit_the_learner_is_refused():
    with pytest.raises(ValueError, match="obs_dim"):
        MAPPO(5, 6, 2, 3).learn(ConstantEnv(), 100, progress=False)


@pytest.fixture(scope="module")
def smax_3m():
    pytest.importorskip("jaxmarl")
    from latentworld.env.real_vector import RealVectorEnv

    return RealVectorEnv("smax-3m", 64, seed=0)


def test_mappo_return_rises_on_real_smax_3m(smax_3m):
    torch.set_num_threads(1)
    env = smax_3m
    agent = MAPPO(env.obs_dim, env.state_dim, env.n_agents, env.n_actions)
    hist = agent.learn(env, 40_000, progress=False)  # ~20 s on one CPU core
    first = hist[0]["mean_return"]
    last = np.mean([r["mean_return"] for r in hist[-3:]])
    assert first < 0.45  # near random play (~0.2)
    assert last > 0.9 and last > first + 0.5  # measured: ~1.2 at 40k steps (max 2)
    assert np.mean([r["win_rate"] for r in hist[-3:]]) > 0.15  # measured: ~0.35


@pytest.mark.slow
@pytest.mark.parametrize("mixer", ["vdn", "qmix", "qplex"])
def test_value_decomposition_return_rises_on_real_smax_3m(mixer):
    pytest.importorskip("jaxmarl")
    from latentworld.env.real_vector import RealVectorEnv

    torch.set_num_threads(1)
    env = RealVectorEnv("smax-3m", 32, seed=0)
    cfg = QMixConfig(mixer=mixer, eps_anneal_steps=20_000)
    agent = QLearner(env.obs_dim, env.state_dim, env.n_agents, env.n_actions, cfg)
    hist = agent.learn(env, 50_000, progress=False)  # ~85 s on one core
    first = np.mean([r["mean_return"] for r in hist[:5]])
    last = np.nanmean([r["mean_return"] for r in hist[-10:]])
    # measured (seed 0): first ≈ 0.17 for all; last ≈ 0.52 qmix, 0.85 vdn, 0.91 qplex
    assert first < 0.3 and last > first + 0.25


def episodes_batch(lengths, F=8, N=2, A=3, terminated=True):
    """Padded episodes as rows of a dataset: obs one-hot in the steps left, reward 1 on every
    step, no-op only on each last row. Returns learn_episodes' arguments."""
    B, R = len(lengths), max(lengths) + 1
    obs = torch.zeros(B, R, N, F)
    has_action = torch.zeros(B, R, dtype=torch.bool)
    rewards = torch.zeros(B, R)
    for b, L in enumerate(lengths):
        obs[b, torch.arange(L + 1), :, L - torch.arange(L + 1)] = 1.0  # [L+1, N] one-hot in L - t
        has_action[b, :L] = True
        rewards[b, 1 : L + 1] = 1.0
    mask = torch.zeros(B, R, N, A, dtype=torch.bool)
    mask[..., 0] = True
    mask[has_action] = True
    return dict(obs=obs, state=torch.zeros(B, R, 4), mask=mask, alive=torch.ones(B, R, N, dtype=torch.bool),
                actions=torch.zeros(B, R, N, dtype=torch.long), rewards=rewards, has_action=has_action,
                terminated=torch.full((B,), terminated))


@pytest.mark.parametrize("terminated", [True, False])
def test_mappo_learn_episodes_values_whole_padded_episodes(terminated):
    # Episodes of 3 and 5 steps (padded to 6 rows), reward 1 per step, γ = 0.5. Terminated
    # (obs: steps left): V(row t) = Σ_{k < L-t} 0.5^k. Cut by the time limit (obs constant, as
    # the episode would go on from its last row): bootstrapped, V → 2 everywhere.
    cfg = MAPPOConfig(gamma=0.5, gae_lambda=1.0, hidden=32, epochs=4, critic_lr=3e-3, critic_state=False)
    agent = MAPPO(8, 4, 2, 3, cfg)
    batch = episodes_batch([3, 5], terminated=terminated)
    if not terminated:
        batch["obs"] = torch.ones_like(batch["obs"])
    for _ in range(200):
        stats = agent.learn_episodes(**batch)
    assert np.isfinite(stats["value_loss"]) and agent.env_steps == 200 * 8
    v = agent._value(batch["obs"][1], torch.zeros(6, 4)).mean(-1)  # [R] the 5-step episode's rows
    want = [sum(0.5**k for k in range(5 - t)) for t in range(5)] if terminated else [2.0] * 5
    assert v[:5].tolist() == pytest.approx(want, abs=0.12)


def test_mappo_learn_episodes_improves_the_policy_that_played_them():
    # One-step episodes: reward 1 for action 2, 0 otherwise; action 1 is masked. The policy plays,
    # learns from what it played, and plays again: action 2 becomes certain, 1 is never taken.
    agent = MAPPO(4, 2, 3, 3, MAPPOConfig(hidden=32, lr=3e-3, entropy_coef=0.0))
    B, obs = 64, torch.ones(64, 2, 3, 4)  # [B, R, N, F]
    mask = torch.ones(B, 2, 3, 3, dtype=torch.bool)
    mask[..., 1] = False
    for _ in range(30):
        act = agent.act(obs[:, 0], mask[:, 0])  # [B, N]
        assert not (act == 1).any()
        actions = torch.stack([act, torch.zeros_like(act)], 1)  # [B, R, N]
        rewards = torch.stack([torch.zeros(B), (act == 2).float().mean(-1)], 1)  # [B, R]
        agent.learn_episodes(obs, torch.zeros(B, 2, 2), mask, torch.ones(B, 2, 3, dtype=torch.bool), actions,
                             rewards, torch.tensor([True, False]).expand(B, 2), torch.ones(B, dtype=torch.bool))
    probs = agent.action_probs(obs[:1, 0], mask[:1, 0])  # [1, N, A]
    assert probs[..., 1].max() == 0.0 and probs[..., 2].min() > 0.9


def test_the_learner_table_builds_saves_and_loads_every_learner(tmp_path):
    """One table names the learners: each builds with its config, and a saved policy loads
    back as the same class with the same weights."""
    from latentworld.algos import ALGOS, LEARNERS, load_policy, make_learner
    from latentworld.algos.registry import config_class, learner_class

    assert ALGOS == tuple(LEARNERS) and {"mappo", "qmix", "vdn", "qplex", "mfq", "mfac"} <= set(ALGOS)
    for algo in ALGOS:
        learner = make_learner(algo, 6, 12, 2, 4, seed=3)
        assert isinstance(learner, learner_class(algo)) and isinstance(learner.cfg, config_class(algo))
        if algo in ("qmix", "vdn", "qplex"):
            assert learner.cfg.mixer == algo
        learner.save(tmp_path / algo)
        back = load_policy(tmp_path / algo)
        assert type(back) is type(learner)
        obs, mask = torch.randn(3, 2, 6), torch.ones(3, 2, 4, dtype=torch.bool)
        assert torch.equal(back.act(obs, mask, deterministic=True), learner.act(obs, mask, deterministic=True))
    with pytest.raises(TypeError, match="no field"):
        make_learner("mappo", 6, 12, 2, 4, not_a_field=1)
    with pytest.raises(ValueError, match="unknown algo"):
        make_learner("ppo", 6, 12, 2, 4)
