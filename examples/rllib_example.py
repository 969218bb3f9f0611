"""RLlib PPO (new API stack, one shared policy, action masking) inside the learned smax-3m env,
then played in real SMAX.

The learned env is made with ``action_mask="rllib"``: Dict observations
``{"observations", "action_mask"}``, the layout of RLlib's ``ActionMaskingTorchRLModule``, so
masked actions get zero probability. A ParallelEnv goes to RLlib through
``ParallelPettingZooEnv``; every agent maps to the policy ``"shared"``. Decoded observations
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
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.rllib.examples.rl_modules.classes.action_masking_rlm import ActionMaskingTorchRLModule
    from ray.tune.registry import register_env

    import latentworld
    from latentworld.metrics import real_vs_random

    torch.set_num_threads(1)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    register_env("latentworld-smax-3m", lambda cfg: ParallelPettingZooEnv(latentworld.make(
        "smax-3m", cfg["model"], obs="decoded", action_mask="rllib", horizon=cfg["horizon"], seed=cfg["seed"])))
    config = (
        PPOConfig()
        .environment("latentworld-smax-3m", env_config={"model": model, "horizon": 15, "seed": seed})
        .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent_id, *args, **kwargs: "shared")
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={
            "shared": RLModuleSpec(module_class=ActionMaskingTorchRLModule,
                                   model_config={"fcnet_hiddens": [128, 128], "head_fcnet_hiddens": []})}))
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
    module = algo.get_module("shared")
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
