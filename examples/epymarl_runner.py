"""EPyMARL's way of training, inside the learned smax-3m env, then played in real SMAX.

EPyMARL (uoe-agents/epymarl, not on PyPI) registers an env factory in ``src/envs/__init__.py``
and drives it with an *episode runner*: reset, then per step ``get_obs()``, ``get_state()``,
``get_avail_actions()``, the controller's actions, ``step(actions) -> (obs, reward,
terminated, truncated, info)``; whole episodes go into an episode batch that the learner
trains on. This file is that loop, written to EPyMARL's documented env API, over
``latentworld.integrations.epymarl.epymarl_env_fn`` (what you would register as ``REGISTRY["latentworld"]``);
the learner is latentworld's MAPPO, trained on each batch of whole episodes
(``MAPPO.learn_episodes``: on-policy, EPyMARL's MAPPO setting). The policy reads decoded
observations (the real env's observation space), so it plays real smax-3m as it is.

    pip install -c constraints.txt -e ".[smax]"
    python examples/epymarl_runner.py --batches 60
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def run_episode(env, learner, rng_seed: int) -> dict[str, np.ndarray]:
    """One episode with EPyMARL's runner protocol; returns its rows [T+1, ...] as an episode batch."""
    env.reset(seed=rng_seed)
    rows: dict[str, list] = {"obs": [], "state": [], "avail_actions": [], "actions": [], "reward": [0.0]}
    terminated = truncated = False
    while True:
        obs, state, avail = np.stack(env.get_obs()), env.get_state(), np.stack(env.get_avail_actions())
        rows["obs"].append(obs)
        rows["state"].append(state)
        rows["avail_actions"].append(avail)
        if terminated or truncated:
            rows["actions"].append(np.zeros(env.n_agents, np.int64))  # the last row has no action
            break
        acts = learner.act(torch.as_tensor(obs)[None], torch.as_tensor(avail, dtype=torch.bool)[None])[0].numpy()
        rows["actions"].append(acts)
        _, reward, terminated, truncated, _ = env.step(acts.tolist())
        rows["reward"].append(reward)
    out = {k: np.asarray(v) for k, v in rows.items()}
    out["terminated"] = np.asarray(terminated and not truncated)
    return out


def to_batch(episodes: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Episodes padded to the longest (as EPyMARL's EpisodeBatch): learn_episodes' arguments."""
    B, R = len(episodes), max(len(e["reward"]) for e in episodes)
    N, A = episodes[0]["avail_actions"].shape[1:]

    def pad(key: str, dtype) -> torch.Tensor:
        first = episodes[0][key]
        out = np.zeros((B, R) + first.shape[1:], dtype)
        for b, e in enumerate(episodes):
            out[b, : len(e[key])] = e[key]
        return torch.as_tensor(out)

    has_action = torch.zeros(B, R, dtype=torch.bool)
    for b, e in enumerate(episodes):
        has_action[b, : len(e["reward"]) - 1] = True
    avail = pad("avail_actions", bool)
    return {"obs": pad("obs", np.float32), "state": pad("state", np.float32), "mask": avail,
            "alive": ~(avail[..., 4] & (avail.sum(-1) == 1)),  # SMAC-style death: only the no-op left
            "actions": pad("actions", np.int64), "rewards": pad("reward", np.float32), "has_action": has_action,
            "terminated": torch.as_tensor(np.array([bool(e["terminated"]) for e in episodes]))}


def train(model: str | None = None, batches: int = 60, batch_episodes: int = 16, horizon: int = 30, seed: int = 0,
          eval_episodes: int = 100) -> dict:
    """Train in imagination with the episode runner; evaluate in real smax-3m."""
    from latentworld.algos import MAPPO, MAPPOConfig
    from latentworld.integrations.epymarl import epymarl_env_fn
    from latentworld.metrics import real_vs_random

    torch.set_num_threads(1)
    env = epymarl_env_fn(key="smax-3m", model=model, common_reward=True, reward_scalarisation="sum",
                         horizon=horizon, seed=seed)
    info = env.get_env_info()
    learner = MAPPO(info["obs_shape"], info["state_shape"], info["n_agents"], info["n_actions"],
                    MAPPOConfig(seed=seed, entropy_coef=0.01, minibatches=2, epochs=5))
    t0, steps, masked = time.perf_counter(), 0, 0
    for i in range(batches):
        episodes = [run_episode(env, learner, rng_seed=seed * 1_000_003 + i * batch_episodes + k)
                    for k in range(batch_episodes)]
        steps += sum(len(e["reward"]) - 1 for e in episodes)
        masked += sum(int((~np.take_along_axis(e["avail_actions"][:-1].astype(bool), e["actions"][:-1, :, None],
                                                -1)).sum()) for e in episodes)
        learner.learn_episodes(**to_batch(episodes))
    seconds = time.perf_counter() - t0
    real = real_vs_random(_Acting(learner, False), _Acting(learner, True), "smax-3m", eval_episodes, seed=seed + 1)
    return {"library": "EPyMARL-style runner (MAPPO)", "imagined_steps": steps, "seconds": seconds,
            "masked_actions_chosen": masked, **real}


class _Acting:
    """The learner as a callable policy, sampling or greedy."""

    def __init__(self, learner, deterministic: bool):
        self.learner, self.deterministic = learner, deterministic

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.learner.act(torch.tensor(obs), torch.tensor(mask, dtype=torch.bool),
                                deterministic=self.deterministic).numpy()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint directory (default: the shipped smax-3m model)")
    p.add_argument("--batches", type=int, default=60, help="episode batches (16 episodes each)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    print(json.dumps(train(a.model, a.batches, seed=a.seed), indent=2))
