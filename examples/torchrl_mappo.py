"""TorchRL MAPPO trained inside the learned smax-3m env, then played in real SMAX.

The env is ``LatentTorchRLEnv``: E learned envs stepped as one batch, in TorchRL's
multi-agent layout (group ``"agents"``). The actor is a shared MLP over each agent's own
decoded observation with a masked categorical head (masked actions are never sampled);
the critic is TorchRL's centralised ``MultiAgentMLP``. Decoded observations are the real
env's observation space, so the actor plays real smax-3m directly, decentralized.

    pip install -c constraints.txt -e ".[smax,torchrl]"
    python examples/torchrl_mappo.py --frames 200000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn


def train(model: str | None = None, frames: int = 200_000, n_envs: int = 64, rollout: int = 32, horizon: int = 15,
          seed: int = 0, eval_episodes: int = 100) -> dict:
    """Train in imagination (``frames`` env steps), evaluate in real smax-3m."""
    import torchrl.collectors as collectors
    from tensordict import TensorDict
    from tensordict.nn import TensorDictModule
    from torchrl.envs.utils import ExplorationType, set_exploration_type
    from torchrl.modules import MaskedCategorical, MultiAgentMLP, ProbabilisticActor
    from torchrl.objectives import ClipPPOLoss, ValueEstimators

    import latentworld
    from latentworld.integrations.torchrl import LatentTorchRLEnv
    from latentworld.metrics import real_vs_random

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    env = LatentTorchRLEnv(latentworld.make_vec("smax-3m", model, n_envs, obs="decoded", horizon=horizon,
                                                seed=seed))
    N, A = env.n_agents, env.n_actions
    F = env.observation_spec["agents", "observation"].shape[-1]
    actor_net = MultiAgentMLP(n_agent_inputs=F, n_agent_outputs=A, n_agents=N, centralized=False,
                              share_params=True, depth=2, num_cells=128, activation_class=nn.Tanh)
    actor = ProbabilisticActor(
        TensorDictModule(actor_net, in_keys=[("agents", "observation")], out_keys=[("agents", "logits")]),
        in_keys={"logits": ("agents", "logits"), "mask": ("agents", "action_mask")},
        out_keys=[("agents", "action")], distribution_class=MaskedCategorical, return_log_prob=True,
        log_prob_key=("agents", "sample_log_prob"))
    critic_net = MultiAgentMLP(n_agent_inputs=F, n_agent_outputs=1, n_agents=N, centralized=True,
                               share_params=True, depth=2, num_cells=128, activation_class=nn.Tanh)
    critic = TensorDictModule(critic_net, in_keys=[("agents", "observation")], out_keys=[("agents", "state_value")])
    loss = ClipPPOLoss(actor_network=actor, critic_network=critic, clip_epsilon=0.2, entropy_coeff=0.01,
                       normalize_advantage=True, normalize_advantage_exclude_dims=(-2,))  # per agent
    loss.set_keys(reward=("agents", "reward"), action=("agents", "action"), value=("agents", "state_value"),
                  sample_log_prob=("agents", "sample_log_prob"), done=("agents", "done"),
                  terminated=("agents", "terminated"))
    loss.make_value_estimator(ValueEstimators.GAE, gamma=0.99, lmbda=0.95)
    opt = torch.optim.Adam(loss.parameters(), lr=5e-4)
    batch = n_envs * rollout
    Collector = getattr(collectors, "Collector", None) or collectors.SyncDataCollector  # renamed in torchrl 0.11
    collector = Collector(env, actor, frames_per_batch=batch, total_frames=-(-frames // batch) * batch, device="cpu")
    masked, t0, done_frames = 0, time.perf_counter(), 0
    for data in collector:
        done_frames += data.numel()
        acts, mask = data.get(("agents", "action")), data.get(("agents", "action_mask"))  # [E, T, N], [E, T, N, A]
        masked += int((~mask.gather(-1, acts.unsqueeze(-1))).sum())
        for key in ("done", "terminated"):  # agent-level copies of the env-level flags
            flag = data.get(("next", key))  # [E, T, 1]
            data.set(("next", "agents", key), flag.unsqueeze(-2).expand(*flag.shape[:-1], N, 1))
        with torch.no_grad():
            loss.value_estimator(data, params=loss.critic_network_params, target_params=loss.target_critic_network_params)
        flat = data.reshape(-1)
        for _ in range(5):  # epochs
            for idx in torch.randperm(flat.numel()).split(1024):
                terms = loss(flat[idx])
                total = terms["loss_objective"] + terms["loss_critic"] + terms["loss_entropy"]
                opt.zero_grad()
                total.backward()
                torch.nn.utils.clip_grad_norm_(loss.parameters(), 10.0)
                opt.step()
        collector.update_policy_weights_()
    seconds = time.perf_counter() - t0
    collector.shutdown()

    def policy(kind):
        def act(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:  # [E, N, F], [E, N, A] -> [E, N]
            td = TensorDict({"agents": TensorDict({"observation": torch.tensor(obs, dtype=torch.float32),
                                                    "action_mask": torch.tensor(mask, dtype=torch.bool)},
                                                   batch_size=obs.shape[:2])}, batch_size=obs.shape[:1])
            with torch.no_grad(), set_exploration_type(kind):
                return actor(td).get(("agents", "action")).numpy()
        return act

    real = real_vs_random(policy(ExplorationType.RANDOM), policy(ExplorationType.DETERMINISTIC), "smax-3m",
                          eval_episodes, seed=seed + 1)
    return {"library": "TorchRL MAPPO (ClipPPOLoss)", "imagined_steps": done_frames, "seconds": seconds,
            "masked_actions_chosen": masked,
            **real}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint directory (default: the shipped smax-3m model)")
    p.add_argument("--frames", type=int, default=200_000, help="imagined env steps of training")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    print(json.dumps(train(a.model, a.frames, seed=a.seed), indent=2))
