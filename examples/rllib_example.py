"""Train RLlib PPO (shared policy) inside the learned env.

UNTESTED IN CI: RLlib is not a dependency of latentworld. Install it with
    pip install "ray[rllib]>=2.40" -c constraints.txt
then run
    python examples/rllib_example.py ckpt/smax-3m

Written against RLlib's new API stack: ``PettingZooEnv``-style wrapping is for AEC envs,
so a ParallelEnv goes through ``ParallelPettingZooEnv`` (ray.rllib.env.wrappers.pettingzoo_env),
registered with ``ray.tune.registry.register_env``. All agents map to one policy
("shared"), which works because every agent has the same spaces. The learned env keeps
masks in ``infos``; plain PPO ignores them and masked choices become the no-op.
"""

from __future__ import annotations

import argparse

import latentworld


def main(model: str, iterations: int) -> None:
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.tune.registry import register_env

    register_env("latent-smax-3m", lambda cfg: ParallelPettingZooEnv(
        latentworld.make("smax-3m", cfg["model"], horizon=cfg.get("horizon"))))
    probe = latentworld.make("smax-3m", model)
    config = (
        PPOConfig()
        .environment("latent-smax-3m", env_config={"model": model, "horizon": 15})
        .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent_id, *args, **kwargs: "shared")
        .env_runners(num_env_runners=1)
        .training(train_batch_size_per_learner=2000, lr=5e-4)
    )
    algo = config.build_algo()
    for i in range(iterations):
        result = algo.train()
        ret = result.get("env_runners", {}).get("episode_return_mean")
        print(f"iteration {i}: imagined episode return {ret}")
    print("agents:", probe.possible_agents)
    algo.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="checkpoint directory of a smax-3m world model")
    p.add_argument("--iterations", type=int, default=10)
    a = p.parse_args()
    main(a.model, a.iterations)
