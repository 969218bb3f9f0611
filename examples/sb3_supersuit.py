"""Train Stable-Baselines3 PPO inside the learned env through SuperSuit (parameter sharing).

    python examples/sb3_supersuit.py ckpt/smax-3m --timesteps 200000

SuperSuit turns the ParallelEnv into a vector env with one slot per agent; all agents share
one observation/action space, which the learned env guarantees. Notes measured with
SuperSuit 3.11 + SB3 2.9: do not pass ``seed=`` to PPO on this vec env (it fails; seed the
env instead), and no ``black_death`` wrapper is needed (dead agents stay with the no-op).
PPO here ignores action masks: masked choices become the no-op (``invalid_action="noop"``).
"""

from __future__ import annotations

import argparse

import numpy as np
import supersuit as ss
from stable_baselines3 import PPO

import latentworld


def train(model: str, total_timesteps: int = 100_000, n_envs: int = 4, horizon: int | None = None,
          seed: int = 0) -> dict:
    """Train PPO in imagination; returns timesteps done and the mean return of finished episodes."""
    env = latentworld.make("smax-3m", model, horizon=horizon, seed=seed)
    vec = ss.pettingzoo_env_to_vec_env_v1(env)
    vec = ss.concat_vec_envs_v1(vec, n_envs, num_cpus=0, base_class="stable_baselines3")
    ppo = PPO("MlpPolicy", vec, n_steps=256, batch_size=256, n_epochs=2, verbose=0)
    ppo.learn(total_timesteps=total_timesteps)
    # Evaluate the trained policy (shared by all agents) on a few imagined episodes.
    returns = []
    eval_env = latentworld.make("smax-3m", model, horizon=horizon, seed=seed + 1)
    for _ in range(3):
        obs, _ = eval_env.reset()
        ret = 0.0
        while eval_env.agents:
            acts = {a: int(ppo.predict(obs[a], deterministic=True)[0]) for a in eval_env.agents}
            obs, rew, _, _, _ = eval_env.step(acts)
            ret += rew[eval_env.possible_agents[0]]
        returns.append(ret)
    vec.close()
    return {"timesteps": int(ppo.num_timesteps), "episodes": len(returns), "mean_return": float(np.mean(returns))}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="checkpoint directory of a smax-3m world model")
    p.add_argument("--timesteps", type=int, default=100_000)
    p.add_argument("--envs", type=int, default=4)
    p.add_argument("--horizon", type=int, default=None)
    a = p.parse_args()
    print(train(a.model, a.timesteps, a.envs, a.horizon))
