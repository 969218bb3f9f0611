"""Decentralized execution in the real env and real-env evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentworld.core.spec import EnvSpec
from latentworld.execution import DeployedPolicy, as_deployed
from latentworld.metrics import evaluate
from latentworld.model import WorldModel, WorldModelConfig

SPEC = EnvSpec(env_id="smax-3m", agents=("ally_0", "ally_1", "ally_2"), obs_dim=75, state_dim=72,
               n_actions=8, episode_limit=100, noop_action=4, has_wins=True)


class FirstAvailable:
    """A tensor policy: each agent takes its first available action other than the no-op."""

    def __init__(self):
        self.seen: list[torch.Tensor] = []

    def act(self, obs, mask, deterministic=False):
        self.seen.append(obs.clone())
        pref = mask.clone()
        pref[..., SPEC.noop_action] = False
        pref |= ~pref.any(-1, keepdim=True) & mask
        return pref.float().argmax(-1)  # [E, N]


def _model() -> WorldModel:
    torch.manual_seed(0)
    return WorldModel(SPEC, WorldModelConfig(deter=16, hidden=16, embed=16, stoch=4, classes=4)).eval()


def test_features_of_an_agent_depend_only_on_its_own_observations():
    m = _model()
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(5, 2, 3, 75)).astype(np.float32)  # [T, E, N, D]
    mask = np.ones((2, 3, 8), np.int8)
    runs = []
    for variant in range(2):
        o = obs.copy()
        if variant:
            o[:, :, [0, 2]] = rng.normal(size=o[:, :, [0, 2]].shape) * 4  # other agents' observations
        pol = DeployedPolicy(FirstAvailable(), m)
        pol.reset(np.ones(2, bool))
        feats = []
        for t in range(5):
            pol(o[t], mask)
            feats.append(pol.policy.seen[-1])
        runs.append(torch.stack(feats))  # [T, E, N, F]
    torch.testing.assert_close(runs[0][:, :, 1], runs[1][:, :, 1], rtol=0, atol=0)
    assert (runs[0][:, :, 0] - runs[1][:, :, 0]).abs().max() > 1e-3
    assert runs[0].shape[-1] == m.cfg.feature_size


def test_reset_forgets_only_the_starting_envs():
    m = _model()
    obs = np.random.default_rng(1).normal(size=(2, 3, 75)).astype(np.float32)
    mask = np.ones((2, 3, 8), np.int8)
    pol = DeployedPolicy(FirstAvailable(), m)
    first = pol.policy
    pol(obs, mask)
    pol(obs, mask)
    pol.reset(np.array([True, False]))
    pol(obs, mask)
    # env 0 restarted: same features as the very first step; env 1 went on
    torch.testing.assert_close(first.seen[2][0], first.seen[0][0])
    assert (first.seen[2][1] - first.seen[0][1]).abs().max() > 1e-4


def test_reset_without_a_model_forgets_only_the_starting_envs_of_a_recurrent_learner():
    """Real observations (no world model): an episode ending in one env must not wipe the
    recurrent memory of the others (it did: every reset cleared all envs)."""
    from latentworld.algos import QLearner, QMixConfig

    learner = QLearner(75, 1, 3, 8, QMixConfig(mixer="vdn", hidden=8))
    obs = np.random.default_rng(1).normal(size=(2, 3, 75)).astype(np.float32)
    mask = np.ones((2, 3, 8), np.int8)
    pol = DeployedPolicy(learner, None)
    pol.reset(np.array([True, True]))
    pol(obs, mask)
    pol(obs, mask)
    before = learner._h.clone()  # [E, N, H]
    pol.reset(np.array([True, False]))
    assert learner._h[0].abs().sum() == 0  # env 0 restarts
    torch.testing.assert_close(learner._h[1], before[1])  # env 1 goes on with its memory


def test_plain_callables_pass_through_and_refuse_a_model():
    def fn(obs, mask):
        return np.zeros(mask.shape[:2], int)

    assert as_deployed(fn) is fn
    with pytest.raises(ValueError, match="numpy callable"):
        as_deployed(fn, _model())


def test_evaluate_random_and_scripted_policies():
    pytest.importorskip("jaxmarl")
    r = evaluate("random", "smax-3m", 32, seed=0)
    assert r.episodes == 32 and r.win_rate == 0.0 and 0.05 < r.mean_return < 0.5
    s = evaluate(FirstAvailable(), "smax-3m", 32, seed=0)
    assert s.episodes == 32 and s.steps > 0 and s.mean_return != pytest.approx(r.mean_return)
    with pytest.raises(ValueError, match="unknown policy"):
        evaluate("greedy", "smax-3m", 4)
    with pytest.raises(ValueError, match="episodes"):
        evaluate("random", "smax-3m", 0)


def test_evaluate_non_smax_env():
    pytest.importorskip("mpe2")
    r = evaluate("random", "mpe-simple_spread_v3", 2, seed=0)
    assert r.win_rate is None and r.episodes == 2 and r.mean_length == 25


def test_evaluation_starts_a_recurrent_learner_with_empty_memory():
    """A QMIX learner's GRU memory from one evaluation must not leak into the next."""
    from latentworld.algos import QLearner, QMixConfig

    m = _model()
    learner = QLearner(m.cfg.deter + m.cfg.latent_size, 1, 3, 8, QMixConfig(mixer="vdn", hidden=8))
    first = evaluate(learner, "smax-3m", 6, model=m, num_envs=3, seed=3)
    assert learner._h is not None and learner._h.abs().sum() > 0  # memory left from the last step
    again = evaluate(learner, "smax-3m", 6, model=m, num_envs=3, seed=3)
    assert again.mean_return == first.mean_return and again.mean_length == first.mean_length


def test_epsilon_replaces_a_share_of_actions_with_random_available_ones():
    mask = np.zeros((500, 3, 8), np.int8)
    mask[..., [1, 4, 6]] = 1  # three available actions; FirstAvailable always takes 1
    pol = DeployedPolicy(FirstAvailable(), None, epsilon=0.3, seed=0)
    acts = pol(np.zeros((500, 3, 75), np.float32), mask)  # [E, N]
    assert set(np.unique(acts)) == {1, 4, 6}  # never a masked action
    # 30% random, of which a third lands on the greedy action again: 80% greedy
    assert abs((acts == 1).mean() - 0.8) < 0.04
    greedy = DeployedPolicy(FirstAvailable(), None, seed=0)(np.zeros((500, 3, 75), np.float32), mask)
    assert (greedy == 1).all()
    with pytest.raises(ValueError, match="epsilon"):
        DeployedPolicy(FirstAvailable(), None, epsilon=1.5)
