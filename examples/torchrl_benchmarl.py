"""Use the learned env from TorchRL (and hence BenchMARL) through TorchRL's PettingZoo wrapper.

UNTESTED IN CI: TorchRL is not a dependency of latentworld. Install it with
    pip install "torchrl>=0.6" "tensordict>=0.6" -c constraints.txt    # BenchMARL: pip install benchmarl
then run
    python examples/torchrl_benchmarl.py ckpt/smax-3m

``torchrl.envs.PettingZooWrapper(env)`` wraps a ParallelEnv into a TorchRL EnvBase with
grouped agents (``group_map``) and outputs an ``"action_mask"`` per group when the env
reports unavailable actions; the learned env is made with ``action_mask="obs"`` (Dict
observations). ``use_mask`` (for agent sets that change) stays False: agents never leave. BenchMARL tasks are TorchRL envs too: a custom BenchMARL ``Task``
whose ``get_env_fun`` returns this wrapped env plugs the learned env into its experiments.
"""

from __future__ import annotations

import argparse

import latentworld


def make_torchrl_env(model: str, horizon: int = 15):
    from torchrl.envs import PettingZooWrapper

    env = latentworld.make("smax-3m", model, horizon=horizon, action_mask="obs")
    return PettingZooWrapper(env, return_state=True, use_mask=False)


def main(model: str, steps: int) -> None:
    env = make_torchrl_env(model)
    print(env.group_map)
    # A random rollout through TorchRL's own API (policy=None samples the action spec).
    rollout = env.rollout(max_steps=steps)
    print(rollout)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="checkpoint directory of a smax-3m world model")
    p.add_argument("--steps", type=int, default=20)
    a = p.parse_args()
    main(a.model, a.steps)
