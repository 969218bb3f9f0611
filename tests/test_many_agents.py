"""Many-agent SMAX maps through the whole pipeline: collect, train-model, learned env, the
mean-field learners in imagination, decentralized evaluation in the real env (tiny budgets)."""

import pytest
import torch

import latentworld
from latentworld.algos import MFAC, MFQ, MFConfig, smax_ally_block
from latentworld.algos.meanfield import nearest_allies
from latentworld.data import EpisodeDataset, collect
from latentworld.metrics import evaluate
from latentworld.model import WorldModelConfig
from latentworld.model.trainer import TrainConfig, train_model

pytest.importorskip("jaxmarl")

SMALL = WorldModelConfig(deter=32, hidden=32, embed=32, stoch=8, classes=8)


@pytest.mark.parametrize("env_id,n_agents", [
    ("smax-25m", 25),
    pytest.param("smax-27m_vs_30m", 27, marks=pytest.mark.slow),
    pytest.param("smax-smacv2_20_units", 20, marks=pytest.mark.slow),
])
def test_many_agent_map_through_the_pipeline(tmp_path, env_id, n_agents):
    torch.set_num_threads(1)
    stats = collect(env_id, tmp_path / "data", 8, num_envs=8, seed=0, progress=False)
    ds = EpisodeDataset.open(tmp_path / "data")
    assert ds.spec.n_agents == n_agents and stats.episodes == 8
    train_model(tmp_path / "data", tmp_path / "model", env_id=env_id, model_config=SMALL,
                config=TrainConfig(steps=4, batch_size=4, seq_len=8, eval_every=4, start_bank=32, holdout_every=4),
                progress=False)
    model = latentworld.load_model(tmp_path / "model", env_id)
    env = latentworld.make_vec(env_id, model, 8, start="any", horizon=5, seed=0)
    assert (env.n_agents, env.n_actions) == (n_agents, ds.spec.n_actions)
    cfg = MFConfig(learning_starts=0, rollout_len=4)
    for cls in (MFQ, MFAC):
        agent = cls(env.obs_dim, env.state_dim, env.n_agents, env.n_actions, cfg)
        hist = agent.learn(env, 256, progress=False)
        assert hist[-1]["env_steps"] >= 256 and agent.updates > 0
        r = evaluate(agent, env_id, 4, model=model[0], seed=1)
        assert r.episodes == 4 and 0.0 <= r.win_rate <= 1.0 and r.mean_length > 0
    if "smacv2" not in env_id:  # k nearest allies from SMAX positions
        block = smax_ally_block(ds.spec)
        real_obs = torch.as_tensor(ds.load(ds.episode_paths()[0]).obs[:1])  # [1, N, F] a real observation
        nb = nearest_allies(real_obs, 4, block)[0]  # [N, N]
        assert (nb.sum(-1) <= 4).all() and nb.sum() > 0 and not nb.diagonal().any()
