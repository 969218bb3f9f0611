"""RealVectorEnv: the batched tensor protocol over real SMAX (vmapped) and MPE (Python loop)."""

import numpy as np
import pytest
import torch

from latentworld.env.protocol import TensorVecEnv


def random_actions(mask: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Uniform among available actions: mask [E, N, A] → [E, N]."""
    scores = torch.rand(mask.shape, generator=gen) * mask + mask
    return scores.argmax(-1)


@pytest.fixture(scope="module")
def smax_env():
    pytest.importorskip("jaxmarl")
    from latentworld.env.real_vector import RealVectorEnv

    return RealVectorEnv("smax-3m", 16, seed=3)


def test_smax_auto_reset_final_obs_and_episode_stats(smax_env):
    env = smax_env
    assert isinstance(env, TensorVecEnv)
    assert (env.n_agents, env.obs_dim, env.state_dim, env.n_actions) == (3, 75, 72, 8)
    step = env.reset(seed=3)
    assert step.obs.shape == (16, 3, 75) and step.state.shape == (16, 72)
    assert step.action_mask.dtype == torch.bool and step.action_mask.any(-1).all()
    assert not step.done.any() and (step.reward == 0).all()
    gen = torch.Generator().manual_seed(0)
    running = torch.zeros(16, dtype=torch.float64)
    length = torch.zeros(16, dtype=torch.long)
    seen_returns, seen_lengths, n_done = [], [], 0
    for _ in range(120):  # > max_steps 100: every env finishes at least one episode
        step = env.step(random_actions(step.action_mask, gen))
        assert step.info["invalid_actions"] == 0
        running += step.reward.double()
        length += 1
        done = step.done
        assert not (step.terminated & step.truncated).any()
        assert not step.won[~done].any()
        if done.any():
            n_done += int(done.sum())
            # the terminal observation is kept; the row itself already shows a fresh episode
            assert not torch.equal(step.final_obs[done], step.obs[done])
            assert torch.equal(step.final_obs[~done], step.obs[~done])
            seen_returns += running[done].tolist()
            seen_lengths += length[done].tolist()
            running[done], length[done] = 0.0, 0
            assert len(step.info["episode_returns"]) == int(done.sum()) == len(step.info["episode_wins"])
            np.testing.assert_allclose(step.info["episode_returns"], running.new_tensor(seen_returns[-int(done.sum()):]),
                                       atol=1e-5)
            assert step.info["episode_lengths"] == seen_lengths[-int(done.sum()):]
        else:
            assert step.info["episode_returns"] == []
    assert n_done >= 16
    assert max(seen_lengths) <= 100
    assert 0.05 < np.mean(seen_returns) < 0.6  # random play on 3m: ~0.2, no wins


def test_smax_masked_actions_become_noop_and_are_counted(smax_env):
    from latentworld.env.real_vector import RealVectorEnv

    a = smax_env
    b = RealVectorEnv("smax-3m", 16, seed=3)
    sa, sb = a.reset(seed=11), b.reset(seed=11)
    assert torch.equal(sa.obs, sb.obs)
    # at the start nobody is in range: attack actions (5..7) are masked
    attack = torch.full((16, 3), 5, dtype=torch.long)
    assert not sa.action_mask[..., 5].any()
    sa = a.step(attack)
    sb = b.step(torch.full((16, 3), a.spec.noop_action, dtype=torch.long))
    assert sa.info["invalid_actions"] == 48 and sb.info["invalid_actions"] == 0
    assert torch.equal(sa.obs, sb.obs) and torch.equal(sa.reward, sb.reward)


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(16, 2, dtype=torch.long), r"shape \[E, N\] = \[16, 3\]"),
    (torch.zeros(16, 3), "integers"),
    (torch.full((16, 3), 8, dtype=torch.long), "out of range: valid actions are 0..7"),
    (torch.full((16, 3), -1, dtype=torch.long), "out of range"),
])
def test_smax_bad_actions_raise_clear_errors(smax_env, bad, match):
    smax_env.reset()
    with pytest.raises(ValueError, match=match):
        smax_env.step(bad)


def test_mpe_loop_backend_truncates_with_final_obs():
    pytest.importorskip("mpe2")
    from latentworld.env.real_vector import RealVectorEnv

    env = RealVectorEnv("mpe-simple_spread_v3", 3, seed=0)
    assert isinstance(env, TensorVecEnv) and env.spec.episode_limit == 25
    step = env.reset(seed=0)
    assert step.obs.shape == (3, 3, 18) and step.state.shape == (3, 54)
    gen = torch.Generator().manual_seed(1)
    total = torch.zeros(3)
    starts = [step.obs.clone()]
    for t in range(50):
        step = env.step(random_actions(step.action_mask, gen))
        total += step.reward
        if t % 25 == 24:  # spread never terminates: every episode is cut at 25 steps
            assert step.truncated.all() and not step.terminated.any()
            assert step.info["episode_lengths"] == [25, 25, 25]
            np.testing.assert_allclose(step.info["episode_returns"], total.numpy(), rtol=1e-5)
            assert not torch.equal(step.final_obs, step.obs)
            starts.append(step.obs.clone())
            total.zero_()
        else:
            assert not step.done.any() and step.info["episode_returns"] == []
    # every episode starts from a different seed
    assert not torch.equal(starts[0], starts[1]) and not torch.equal(starts[1], starts[2])
    assert not torch.equal(starts[1][0], starts[1][1])


def test_branches_start_from_saved_real_states_and_end_at_the_horizon():
    """The loop's oracle_branch diagnostic: real SMAX rollouts restarted from states a real env
    passed through, truncated (not terminated) after the horizon."""
    pytest.importorskip("jaxmarl")
    from latentworld.env.real_branch import StatePool, branch_env
    from latentworld.env.real_vector import RealVectorEnv

    real = RealVectorEnv("smax-3m", 4, seed=0)
    pool = StatePool(real)
    step = real.reset(seed=0)
    for _ in range(3):
        step = real.step(torch.multinomial(step.action_mask.flatten(0, 1).float(), 1).view(4, -1))
    assert len(pool) == 12
    _, obs, _, _, _ = pool.stacked()
    env = branch_env("smax-3m", 5, horizon=2, seed=1)
    env._backend.set_pool(pool)
    step = env.reset()
    saved = {o.tobytes() for o in obs}
    assert all(o.numpy().tobytes() in saved for o in step.obs)  # every branch starts at a saved state
    for _ in range(2):
        step = env.step(torch.multinomial(step.action_mask.flatten(0, 1).float(), 1).view(5, -1))
    assert bool((step.terminated | step.truncated).all())  # every branch ended by the horizon
    assert all(o.numpy().tobytes() in saved for o in step.obs)  # and restarts at one
