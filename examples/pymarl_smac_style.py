"""Drive the learned env with PyMARL/EPyMARL's SMAC interface (StarCraft2Env method names).

    python examples/pymarl_smac_style.py ckpt/smax-3m

PyMARL's runners call ``get_env_info()`` once, then per step ``get_obs()``, ``get_state()``,
``get_avail_actions()`` and ``step(actions) -> (reward, terminated, info)``. This script runs
that loop with a random policy over available actions; to plug the learned env into
(E)PyMARL, register a factory returning ``LatentSMACEnv(latentworld.make(...))`` in its
``REGISTRY`` of envs (``src/envs/__init__.py``).
"""

from __future__ import annotations

import argparse

import numpy as np

import latentworld
from latentworld.env import LatentSMACEnv


def run(model: str, episodes: int = 3, seed: int = 0) -> list[float]:
    env = LatentSMACEnv(latentworld.make("smax-3m", model, obs="decoded"))
    info = env.get_env_info()
    print("env info:", info)
    rng = np.random.default_rng(seed)
    returns = []
    for ep in range(episodes):
        env.reset(seed=seed + ep)
        terminated, ret = False, 0.0
        while not terminated:
            obs, state = env.get_obs(), env.get_state()  # what PyMARL stores in its batch
            assert len(obs) == info["n_agents"] and state.shape == (info["state_shape"],)
            actions = [int(rng.choice(np.flatnonzero(m))) for m in env.get_avail_actions()]
            reward, terminated, step_info = env.step(actions)
            ret += reward
        returns.append(ret)
        print(f"episode {ep}: return {ret:.3f}, hit the limit: {step_info['episode_limit']}")
    env.close()
    return returns


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="checkpoint directory of a smax-3m world model")
    p.add_argument("--episodes", type=int, default=3)
    a = p.parse_args()
    run(a.model, a.episodes)
