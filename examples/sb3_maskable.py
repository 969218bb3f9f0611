"""sb3-contrib's MaskablePPO trained inside the learned smax-3m env, then played in real SMAX.

Agents x envs are the slots of one SB3 VecEnv (``LatentSB3VecEnv``, no per-env Python loop),
the policy is shared by all agents and reads decoded observations, which are the real env's
observation space: the trained policy plays real smax-3m directly (decentralized: each agent
acts on its own observation and mask). Masked actions are never chosen.

    pip install -c constraints.txt -e ".[smax,sb3]"
    python examples/sb3_maskable.py --steps 60000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def train(model: str | None = None, total_timesteps: int = 60_000, n_envs: int = 64, horizon: int = 15,
          seed: int = 0, eval_episodes: int = 100) -> dict:
    """Train in imagination, evaluate in real smax-3m; returns the numbers the README table shows."""
    from sb3_contrib import MaskablePPO

    import latentworld
    from latentworld.integrations.sb3 import LatentSB3VecEnv
    from latentworld.metrics import real_vs_random

    torch.set_num_threads(1)
    venv = LatentSB3VecEnv(latentworld.make_vec("smax-3m", model, n_envs, obs="decoded", horizon=horizon, seed=seed))
    masked = {"chosen": 0}

    def count_masked(locals_, globals_):  # SB3 callback: count masked actions the learner picked
        masked["chosen"] += sum(i["invalid_action"] for i in locals_["infos"])
        return True

    agent = MaskablePPO("MlpPolicy", venv, n_steps=32, batch_size=1024, n_epochs=5, learning_rate=5e-4,
                        ent_coef=0.01, gamma=0.99, seed=seed, verbose=0, device="cpu")
    t0 = time.perf_counter()
    agent.learn(total_timesteps, callback=count_masked)
    seconds = time.perf_counter() - t0

    def act(deterministic: bool):
        def policy(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:  # [E, N, F], [E, N, A] -> [E, N]
            E, N = obs.shape[:2]
            a, _ = agent.predict(obs.reshape(E * N, -1), action_masks=mask.reshape(E * N, -1).astype(bool),
                                 deterministic=deterministic)
            return np.asarray(a).reshape(E, N)
        return policy

    real = real_vs_random(act(False), act(True), "smax-3m", eval_episodes, seed=seed + 1)
    return {"library": "sb3-contrib MaskablePPO", "imagined_steps": int(agent.num_timesteps // venv.N),
            "slot_steps": int(agent.num_timesteps), "seconds": seconds, "masked_actions_chosen": masked["chosen"],
            **real}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint directory (default: the shipped smax-3m model)")
    p.add_argument("--steps", type=int, default=60_000, help="agent-slot steps of training")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    print(json.dumps(train(a.model, a.steps, seed=a.seed), indent=2))
