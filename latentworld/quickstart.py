"""The quickstart: train MAPPO inside a shipped world model, then play it in the real env.

1. load the world model shipped with the package for ``env_id`` (no data, no training);
2. measure the random policy's real win rate;
3. train MAPPO only in imagination (``latentworld.make_vec`` on the learned env);
4. play the policy in the real environment with decentralized execution (each agent encodes
   only its own observations) and report the real win rate.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from latentworld._io import writer_lock
from latentworld.metrics import evaluate


@dataclass
class QuickstartConfig:
    env_id: str = "smax-3m"
    """An env id with a shipped world model (see ``latentworld list --models``)."""
    imag_steps: int = 60_000
    """Imagined env steps of MAPPO training (each step moves every agent)."""
    imag_envs: int = 256
    """Learned envs stepped together."""
    horizon: int = 15
    """Imagination horizon from real posterior start states."""
    deterministic: bool = False
    """Imagine with latent modes instead of samples."""
    eval_episodes: int = 200
    """Real episodes for each evaluation."""
    seed: int = 0
    device: str = "cpu"
    out: str | None = None
    """Where to save the trained policy (optional)."""


def quickstart(cfg: QuickstartConfig, *, progress: bool = True) -> dict[str, Any]:
    """Train MAPPO inside the shipped world model for ``cfg.env_id``, then evaluate it and the random policy in the real env; returns the numbers the command prints."""
    if cfg.out:  # one writer per policy directory, held from the start
        with writer_lock(cfg.out, "policy directory"):
            return _quickstart(cfg, progress)
    return _quickstart(cfg, progress)


def _quickstart(cfg: QuickstartConfig, progress: bool) -> dict[str, Any]:
    import latentworld
    from latentworld.algos import MAPPO, MAPPOConfig

    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    model, meta = latentworld.load_model(_shipped(cfg.env_id), cfg.env_id, cfg.device)
    before = evaluate("random", cfg.env_id, cfg.eval_episodes, seed=cfg.seed + 1)
    env = latentworld.make_vec(cfg.env_id, (model, meta), cfg.imag_envs, start="any", horizon=cfg.horizon,
                               deterministic=cfg.deterministic, device=cfg.device, seed=cfg.seed)
    learner = MAPPO(env.obs_dim, env.state_dim, env.n_agents, env.n_actions, MAPPOConfig(seed=cfg.seed),
                    device=cfg.device)
    t1 = time.perf_counter()
    hist = learner.learn(env, cfg.imag_steps, progress=progress)
    train_s = time.perf_counter() - t1
    after = evaluate(learner, cfg.env_id, cfg.eval_episodes, model=model, seed=cfg.seed + 2, device=cfg.device)
    if cfg.out:
        learner.save(Path(cfg.out))
    return {
        "env_id": cfg.env_id, "model": str(_shipped(cfg.env_id)),
        "random_win_rate": before.win_rate, "random_return": before.mean_return,
        "win_rate": after.win_rate, "return": after.mean_return, "eval_episodes": cfg.eval_episodes,
        "imagined_steps": cfg.imag_steps, "imagined_return": hist[-1].get("mean_return") if hist else None,
        "train_seconds": train_s, "seconds": time.perf_counter() - t0, "config": asdict(cfg),
    }


def _shipped(env_id: str) -> Path:
    from latentworld.registry import default_checkpoint

    path = default_checkpoint(env_id)
    if path is None:
        raise ValueError(f"no world model is shipped for {env_id!r}; train one with "
                         f"`latentworld run {env_id} --out runs/{env_id}` and pass it with --model")
    return Path(path)
