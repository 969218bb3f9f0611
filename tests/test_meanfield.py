"""Mean-field learners (MF-Q, MF-AC): the mean action, neighbours, and learning on real SMAX."""

import numpy as np
import pytest
import torch

from latentworld.algos import MFAC, MFQ, MFConfig, load_policy, mean_action, smax_ally_block
from latentworld.algos.meanfield import nearest_allies, participants


def test_mean_action_averages_the_other_participating_agents_only():
    acts = torch.tensor([[0, 1, 2, 1]])  # [E=1, N=4]
    part = torch.tensor([[True, True, True, False]])  # agent 3 is dead (or has no choice)
    abar = mean_action(acts, part, 3)  # [1, 4, 3]
    assert torch.allclose(abar[0, 0], torch.tensor([0.0, 0.5, 0.5]))  # agents 1 and 2, not itself, not 3
    assert torch.allclose(abar[0, 1], torch.tensor([0.5, 0.0, 0.5]))
    assert torch.allclose(abar[0, 3], torch.tensor([1 / 3, 1 / 3, 1 / 3]))  # a dead agent still sees the others
    alone = mean_action(torch.tensor([[2, -1]]), torch.tensor([[True, True]]), 3)
    assert torch.equal(alone[0, 0], torch.zeros(3))  # the neighbour has no action yet (episode start)
    assert torch.allclose(alone[0, 1], torch.tensor([0.0, 0.0, 1.0]))


def test_participants_leave_out_dead_agents_and_agents_without_a_choice():
    mask = torch.tensor([[[True, True], [True, False], [True, True]]])  # agent 1 can only stop
    alive = torch.tensor([[True, True, False]])
    assert participants(mask, alive).tolist() == [[True, False, False]]
    assert participants(mask).tolist() == [[True, False, True]]


def test_a_neighbour_without_a_choice_does_not_change_an_agents_q_values():
    """ā, and so Q, ignore the action recorded for an agent that could only take the no-op."""
    agent = MFQ(5, 4, 3, 4)
    obs = torch.randn(2, 3, 5)
    mask = torch.ones(2, 3, 4, dtype=torch.bool)
    mask[:, 2] = torch.tensor([True, False, False, False])  # agent 2: only the no-op (SMAX's dead units)
    part = participants(mask)
    q = []
    for recorded in (0, 3):
        prev = torch.tensor([[1, 2, recorded], [0, 0, recorded]])
        abar = mean_action(prev, part, 4)  # [2, 3, 4]
        q.append(agent._q(agent.qnet, agent._base(obs, prev), abar)[:, :2])  # agents 0 and 1
    assert torch.equal(q[0], q[1])


def smax_like_obs(positions: torch.Tensor, block: int, seen: torch.Tensor) -> torch.Tensor:
    """Observations in SMAX's layout: for agent j, the other allies' blocks [health, x, y, 0...]
    in index order without j, then padding. positions [N, 2], seen [N, N] bool."""
    N = positions.shape[0]
    obs = torch.zeros(1, N, (N - 1) * block + 4)
    for j in range(N):
        for slot, k in enumerate([k for k in range(N) if k != j]):
            if seen[j, k]:
                obs[0, j, slot * block: slot * block + 3] = torch.cat([torch.ones(1), positions[k] - positions[j]])
    return obs


def test_nearest_allies_picks_the_k_closest_visible_ones():
    pos = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 0.5]])
    seen = torch.ones(4, 4, dtype=torch.bool)
    seen[0, 3] = False  # agent 0 does not see agent 3 (out of sight, or dead)
    nb = nearest_allies(smax_like_obs(pos, 9, seen), 2, 9)[0]  # [N, N]
    assert nb[0].tolist() == [False, True, True, False]  # 3 is unseen, so 1 and 2
    assert nb[1].tolist() == [True, False, False, True]  # 0 at 1.0, 3 at ~1.1, 2 at 2.0
    assert nb[3].tolist() == [True, True, False, False]
    assert not nb.diagonal().any()


def test_k_nearest_needs_positions_and_a_fitting_layout():
    with pytest.raises(ValueError, match="ally_block"):
        MFConfig(neighbours=2)
    with pytest.raises(ValueError, match="exceeds obs_dim"):
        MFQ(10, 4, 3, 5, MFConfig(neighbours=2, ally_block=9))


def test_smax_ally_block_matches_jaxmarls_unit_features():
    pytest.importorskip("jaxmarl")
    from jaxmarl import make
    from jaxmarl.environments.smax import map_name_to_scenario

    from latentworld.adapters.smax import smax_spec

    for name in ("3m", "2s3z", "25m"):
        env = make("HeuristicEnemySMAX", scenario=map_name_to_scenario(name))
        assert smax_ally_block(smax_spec(name)) == len(env.unit_features)


@pytest.fixture(scope="module")
def smax_3m():
    pytest.importorskip("jaxmarl")
    from latentworld.env.real_vector import RealVectorEnv

    return RealVectorEnv("smax-3m", 32, seed=0)


@pytest.mark.parametrize("cls", [MFQ, MFAC])
def test_mean_field_return_rises_on_real_smax_3m(smax_3m, cls, tmp_path):
    torch.set_num_threads(1)
    env = smax_3m
    agent = cls(env.obs_dim, env.state_dim, env.n_agents, env.n_actions)
    hist = agent.learn(env, 30_000, progress=False)  # ~15 s on one core
    first = np.nanmean([r["mean_return"] for r in hist[:4]])
    last = np.nanmean([r["mean_return"] for r in hist[-10:]])
    # measured (seed 0, 30k steps): MF-Q 0.06 → 0.46, MF-AC 0.18 → 1.31 (43% won; MAPPO: ~1.2 at 40k)
    assert first < 0.3 and last > first + (0.3 if cls is MFQ else 0.8), (first, last)
    agent.save(tmp_path / "p")
    loaded = load_policy(tmp_path / "p")
    obs, mask = env.reset(seed=3).obs, env.reset(seed=3).action_mask
    assert torch.equal(agent.act(obs, mask, deterministic=True), loaded.act(obs, mask, deterministic=True))


def test_replay_grows_as_steps_arrive_then_keeps_the_newest():
    from latentworld.algos.meanfield import TransitionReplay

    rb = TransitionReplay(3000, 2, 4, 3, torch.device("cpu"))
    assert rb.data["obs"].shape[0] == 1024  # not the full capacity up front

    def batch(start, E):
        r = torch.arange(start, start + E, dtype=torch.float32)  # [E] the step number as reward
        return {"reward": r, "obs": r.view(E, 1, 1).expand(E, 2, 4)}

    for s in range(0, 1024, 32):  # exactly fills the first storage: the next add must grow, not wrap
        rb.add(batch(s, 32))
    for s in range(1024, 2000, 488):
        rb.add(batch(s, 488))
    assert rb.size == 2000 and rb.data["obs"].shape[0] == 2048
    assert torch.equal(rb.data["reward"][:2000], torch.arange(2000.0))  # nothing lost in the copies
    for s in range(2000, 4000, 500):
        rb.add(batch(s, 500))
    assert rb.size == 3000 and rb.data["reward"].shape[0] == 3000
    assert set(rb.data["reward"].tolist()) == set(range(1000, 4000))  # the oldest 1000 overwritten
    g = torch.Generator().manual_seed(0)
    recent = rb.sample(256, g, recent=500)["reward"]
    assert recent.min() >= 3500  # the last 500 steps added
    every = rb.sample(4096, g)["reward"]
    assert every.min() >= 1000 and every.max() <= 3999 and every.min() < 1500  # the whole buffer, old ones too
