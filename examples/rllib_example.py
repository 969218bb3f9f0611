"""RLlib PPO (new API stack, one shared policy, action masking) inside the learned smax-3m env,
then played in real SMAX.

``latentworld.integrations.rllib`` registers the learned env (``action_mask="rllib"``: Dict
observations ``{"observations", "action_mask"}``, the layout of RLlib's
``ActionMaskingTorchRLModule``, so masked actions get zero probability) and builds that
module's spec; every agent maps to the one policy ``"shared"``. Decoded observations
are the real env's observation space, so the trained module plays real smax-3m directly.

    pip install -c constraints.txt -e ".[smax,rllib]"
    python examples/rllib_example.py --iterations 10
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def train(model: str | None = None, iterations: int = 10, batch: int = 4000, seed: int = 0,
          eval_episodes: int = 100) -> dict:
    """Train in imagination for ``iterations`` PPO iterations, evaluate in real smax-3m."""
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig

    from latentworld.integrations import rllib as lw_rllib
    from latentworld.metrics import real_vs_random

    torch.set_num_threads(1)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    name = lw_rllib.register("smax-3m", model, horizon=15)
    config = (
        PPOConfig()
        .environment(name, env_config={"seed": seed})
        .multi_agent(**lw_rllib.shared_policy())
        .rl_module(rl_module_spec=lw_rllib.masked_module_spec((128, 128)))
        .env_runners(num_env_runners=0, num_envs_per_env_runner=1)
        .training(train_batch_size_per_learner=batch, minibatch_size=500, num_epochs=5, lr=5e-4,
                  entropy_coeff=0.01)
        .debugging(seed=seed)
    )
    algo = config.build_algo()
    t0, steps, returns = time.perf_counter(), 0, []
    for _ in range(iterations):
        result = algo.train()
        runners = result.get("env_runners", {})
        steps = int(runners.get("num_env_steps_sampled_lifetime", steps))
        returns.append(runners.get("episode_return_mean"))
    seconds = time.perf_counter() - t0
    module = algo.get_module(lw_rllib.SHARED)
    masked = {"chosen": 0}

    def policy(sample: bool):
        gen = torch.Generator().manual_seed(seed)

        def act(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:  # [E, N, F], [E, N, A] -> [E, N]
            E, N = obs.shape[:2]
            batch_obs = {"observations": torch.tensor(obs.reshape(E * N, -1), dtype=torch.float32),
                         "action_mask": torch.tensor(mask.reshape(E * N, -1), dtype=torch.float32)}
            with torch.no_grad():
                logits = module.forward_inference({"obs": batch_obs})["action_dist_inputs"]  # [E*N, A], masked
            a = (torch.multinomial(torch.softmax(logits, -1), 1, generator=gen).squeeze(-1) if sample
                 else logits.argmax(-1)).numpy().reshape(E, N)
            masked["chosen"] += int((np.take_along_axis(mask, a[..., None], -1) == 0).sum())
            return a
        return act

    real = real_vs_random(policy(True), policy(False), "smax-3m", eval_episodes, seed=seed + 1)
    algo.stop()
    ray.shutdown()
    return {"library": "RLlib PPO (ActionMaskingTorchRLModule)", "imagined_steps": steps, "seconds": seconds,
            "imagined_return_per_iteration": returns, "masked_actions_chosen_real": masked["chosen"],
            **real}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint directory (default: the shipped smax-3m model)")
    p.add_argument("--iterations", type=int, default=10, help="PPO iterations of 4000 imagined steps")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    print(json.dumps(train(a.model, a.iterations, seed=a.seed), indent=2))
