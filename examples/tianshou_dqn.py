"""Tianshou's DQN trained inside the learned smax-3m env, then played in real SMAX.

Agents x envs are the slots of one Tianshou vector env (``LatentTianshouVectorEnv``), the
Q-network is shared by all agents (independent learners on the team reward) and reads decoded
observations, which are the real env's observation space: the trained policy plays real
smax-3m directly (decentralized: each agent acts on its own observation and mask). Tianshou's
Q-learning policy reads the mask from ``obs.mask``: masked actions are never chosen, neither
greedily nor by its ε-exploration.

    pip install -c constraints.txt -e ".[smax,tianshou]"
    python examples/tianshou_dqn.py --steps 40000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def train(model: str | None = None, env_steps: int = 40_000, n_envs: int = 32, horizon: int = 15, seed: int = 0,
          eval_episodes: int = 100) -> dict:
    """Train in imagination (``env_steps`` imagined env steps, each moving every agent), evaluate in
    real smax-3m; returns the numbers the README table shows."""
    from tianshou.algorithm import DQN
    from tianshou.algorithm.algorithm_base import policy_within_training_step
    from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
    from tianshou.algorithm.optim import AdamOptimizerFactory
    from tianshou.data import Batch, Collector, VectorReplayBuffer
    from tianshou.utils.net.common import Net

    import latentworld
    from latentworld.integrations.tianshou import LatentTianshouVectorEnv
    from latentworld.metrics import real_vs_random

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    np.random.seed(seed)  # Tianshou's ε-exploration draws from numpy's global generator
    venv = LatentTianshouVectorEnv(latentworld.make_vec("smax-3m", model, n_envs, obs="decoded", horizon=horizon,
                                                        seed=seed))
    venv.single_action_space.seed(seed)  # the random warm-up samples from it
    net = Net(state_shape=venv.venv.obs_dim, action_shape=venv.venv.n_actions, hidden_sizes=[128, 128])
    policy = DiscreteQLearningPolicy(model=net, action_space=venv.single_action_space,
                                     observation_space=venv.single_observation_space, eps_training=0.1)
    algo = DQN(policy=policy, optim=AdamOptimizerFactory(lr=5e-4), gamma=0.99, n_step_return_horizon=3,
               target_update_freq=200)
    buffer = VectorReplayBuffer(100_000, len(venv))
    collector = Collector(algo, venv, buffer, exploration_noise=True)
    collector.reset()
    t0 = time.perf_counter()
    collector.collect(n_step=10 * len(venv), random=True)  # warm-up: uniform actions (masked ones become no-ops)
    masked_before = venv.invalid_actions
    steps = 10 * n_envs
    with policy_within_training_step(policy):
        while steps < env_steps:
            collector.collect(n_step=4 * len(venv))  # 4 steps of every env
            steps += 4 * n_envs
            for _ in range(4):
                algo.update(sample_size=256, buffer=buffer)
    seconds = time.perf_counter() - t0

    def act(eps: float):
        rng = np.random.default_rng(seed)

        def play(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:  # [E, N, F], [E, N, A] -> [E, N]
            E, N = obs.shape[:2]
            m = mask.reshape(E * N, -1).astype(bool)
            with torch.no_grad():
                a = policy(Batch(obs=Batch(obs=obs.reshape(E * N, -1).astype(np.float32), mask=m), info={})).act
            a = np.asarray(a)
            explore = rng.random(E * N) < eps  # ε-greedy among the available actions
            rand = (rng.random(m.shape) + m).argmax(-1)
            return np.where(explore, rand, a).reshape(E, N)
        return play

    real = real_vs_random(act(0.05), act(0.0), "smax-3m", eval_episodes, seed=seed + 1)
    return {"library": "Tianshou DQN", "imagined_steps": steps, "slot_steps": steps * venv.N, "seconds": seconds,
            "masked_actions_chosen": venv.invalid_actions - masked_before, **real}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint directory (default: the shipped smax-3m model)")
    p.add_argument("--steps", type=int, default=40_000, help="imagined env steps of training")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    print(json.dumps(train(a.model, a.steps, seed=a.seed), indent=2))
