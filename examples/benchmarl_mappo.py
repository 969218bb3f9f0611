"""BenchMARL's MAPPO trained inside the learned smax-3m env, then played in real SMAX.

``LatentTask.SMAX_3M`` is a BenchMARL task whose envs are learned envs stepped as one batch;
any BenchMARL algorithm with discrete actions runs on it. Decoded observations are the real
env's observation space, so the trained policy plays real smax-3m directly, decentralized.

    pip install -c constraints.txt -e ".[smax,benchmarl]"
    python examples/benchmarl_mappo.py --frames 120000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import torch


def train(model: str | None = None, frames: int = 120_000, n_envs: int = 64, seed: int = 0,
          eval_episodes: int = 100) -> dict:
    """Train in imagination (``frames`` env steps), evaluate in real smax-3m."""
    from benchmarl.algorithms import MappoConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig
    from tensordict import TensorDict
    from torchrl.envs.utils import ExplorationType, set_exploration_type

    from latentworld.integrations.benchmarl import LatentTask
    from latentworld.metrics import real_vs_random

    torch.set_num_threads(1)
    cfg = ExperimentConfig.get_from_yaml()
    batch = n_envs * 32
    cfg.max_n_frames = -(-frames // batch) * batch
    cfg.on_policy_collected_frames_per_batch = batch
    cfg.on_policy_n_envs_per_worker = n_envs
    cfg.on_policy_n_minibatch_iters = 5
    cfg.on_policy_minibatch_size = 1024
    cfg.lr = 5e-4
    cfg.sampling_device = cfg.train_device = cfg.buffer_device = "cpu"
    cfg.evaluation = False
    cfg.render = False
    cfg.loggers = []
    cfg.checkpoint_interval = 0
    cfg.checkpoint_at_end = False
    cfg.create_json = False
    cfg.prefer_continuous_actions = False
    cfg.save_folder = tempfile.mkdtemp(prefix="benchmarl-")
    task = LatentTask.SMAX_3M.get_task({"model": model, "horizon": 15, "obs": "decoded"})
    exp = Experiment(task=task, algorithm_config=MappoConfig.get_from_yaml(), model_config=MlpConfig.get_from_yaml(),
                     critic_model_config=MlpConfig.get_from_yaml(), seed=seed, config=cfg)
    t0 = time.perf_counter()
    exp.run()
    seconds = time.perf_counter() - t0
    actor = exp.policy
    masked = {"chosen": 0}

    def policy(kind):
        def act(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:  # [E, N, F], [E, N, A] -> [E, N]
            td = TensorDict({"agents": TensorDict({"observation": torch.tensor(obs, dtype=torch.float32),
                                                    "action_mask": torch.tensor(mask, dtype=torch.bool)},
                                                   batch_size=obs.shape[:2])}, batch_size=obs.shape[:1])
            with torch.no_grad(), set_exploration_type(kind):
                a = actor(td).get(("agents", "action")).numpy()
            masked["chosen"] += int((np.take_along_axis(mask, a[..., None], -1) == 0).sum())
            return a
        return act

    real = real_vs_random(policy(ExplorationType.RANDOM), policy(ExplorationType.DETERMINISTIC), "smax-3m",
                          eval_episodes, seed=seed + 1)
    return {"library": "BenchMARL MAPPO", "imagined_steps": int(exp.total_frames), "seconds": seconds,
            "masked_actions_chosen_real": masked["chosen"],  # by the trained policy in the real episodes
            **real}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint directory (default: the shipped smax-3m model)")
    p.add_argument("--frames", type=int, default=120_000, help="imagined env steps of training")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    print(json.dumps(train(a.model, a.frames, seed=a.seed), indent=2))
