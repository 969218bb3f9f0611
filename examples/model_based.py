"""The learned env for model-based users: branch imagined rollouts from real data and plan.

1. Collect a few real smax-3m episodes, encode them with the world model (each agent's
   posterior state carries its whole history), and start E imagined episodes from the state
   at row ``--row`` of each: ``LatentVectorEnv.reset_to``.
2. From there, a random-shooting planner scores ``--candidates`` sampled joint action
   sequences ``--depth`` steps ahead with ``LatentVectorEnv.plan`` (common random numbers,
   masked actions played as the no-op), takes the best first action, and steps on.
3. Compare its imagined return with the uniformly random policy's from the same states.
4. ``--frames PATH``: render one imagined episode (``render_mode="rgb_array"``: the units where
   the model's decoded observations place them, with health bars) to a PNG strip.

    python examples/model_based.py --episodes 8 --candidates 64 --depth 5 --frames imagined.png
"""

from __future__ import annotations

import argparse
import json
import tempfile

import numpy as np
import torch


def run(model: str | None = None, episodes: int = 8, row: int = 2, candidates: int = 64, depth: int = 5,
        steps: int = 10, seed: int = 0) -> dict:
    import latentworld
    from latentworld.data import EpisodeDataset, collect
    from latentworld.model.world_model import batch_to_torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        collect("smax-3m", f"{tmp}/data", episodes, seed=seed, num_envs=episodes, progress=False)
        eps = list(EpisodeDataset.open(f"{tmp}/data"))
    env = latentworld.make_vec("smax-3m", model, episodes, obs="decoded", horizon=steps, seed=seed)
    wm = env.model
    T = max(e.steps for e in eps) + 1
    batch = {k: np.zeros((episodes, T) + getattr(eps[0], k).shape[1:], getattr(eps[0], k).dtype)
             for k in ("obs", "state", "actions", "action_mask", "rewards", "alive")}
    batch.update(valid=np.zeros((episodes, T), bool), is_first=np.zeros((episodes, T), bool),
                 has_action=np.zeros((episodes, T), bool), terminated=np.zeros((episodes, T), bool),
                 truncated=np.zeros((episodes, T), bool))
    for i, e in enumerate(eps):
        n = e.steps + 1
        for k in ("obs", "state", "actions", "action_mask", "rewards", "alive", "has_action"):
            batch[k][i, :n] = getattr(e, k)
        batch["valid"][i, :n] = True
        batch["is_first"][i, 0] = True
    with torch.no_grad():
        states, _ = wm.observe(batch_to_torch(batch))  # [E, T, N, ...] posterior, histories included
    rows = torch.as_tensor([min(row, e.steps - 1) for e in eps])
    starts = states.map(lambda x: x[torch.arange(episodes), rows])  # [E, N, ...] real mid-episode states

    def play(planner: bool) -> float:
        out = env.reset_to(starts, seed=seed)
        gen = torch.Generator().manual_seed(seed)
        total = torch.zeros(episodes)
        done = torch.zeros(episodes, dtype=torch.bool)
        for _ in range(steps):
            masks = out.action_mask.float()  # [E, N, A]
            if planner:
                acts = torch.empty(episodes, env.n_agents, dtype=torch.long)
                for e in range(episodes):
                    p = masks[e].expand(candidates, depth, -1, -1).reshape(-1, env.n_actions)
                    cand = torch.multinomial(p, 1, generator=gen).view(candidates, depth, env.n_agents)
                    acts[e] = cand[env.plan(cand, env_index=e, seed=seed).returns.argmax(), 0]
            else:
                acts = torch.multinomial(masks.view(-1, env.n_actions), 1, generator=gen).view(episodes, -1)
            out = env.step(acts)
            total += torch.where(done, 0.0, out.reward)
            done |= out.terminated | out.truncated
        return float(total.mean())

    return {"branched_from_row": row, "episodes": episodes, "candidates": candidates, "depth": depth,
            "imagined_return_planner": play(True), "imagined_return_random": play(False)}


def imagined_frames(model: str | None = None, steps: int = 12, seed: int = 0) -> np.ndarray:
    """One imagined episode (random available actions) rendered to frames [T, P, P, 3] uint8."""
    import latentworld

    env = latentworld.make("smax-3m", model, obs="decoded", render_mode="rgb_array", horizon=steps, seed=seed)
    rng = np.random.default_rng(seed)
    _, infos = env.reset(seed=seed)
    frames = [env.render()]
    while env.agents:
        acts = {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"]))) for a in env.agents}
        _, _, _, _, infos = env.step(acts)
        frames.append(env.render())
    return np.stack(frames)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint directory (default: the shipped smax-3m model)")
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--candidates", type=int, default=64)
    p.add_argument("--depth", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", default=None, help="also render one imagined episode to this PNG strip")
    a = p.parse_args()
    print(json.dumps(run(a.model, a.episodes, candidates=a.candidates, depth=a.depth, seed=a.seed), indent=2))
    if a.frames:
        import matplotlib.pyplot as plt

        f = imagined_frames(a.model, seed=a.seed)
        plt.imsave(a.frames, np.concatenate(list(f), 1))
        print(f"{len(f)} imagined frames -> {a.frames}")
