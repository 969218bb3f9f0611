"""Random-policy return, win rate and collection speed of every real-env family.

    python benchmarks/collect_speed.py [--episodes 100] [--out docs/collect_speed.md]

Speeds are end to end through ``latentworld.data.collect`` (policy, env, episode files
written to disk), measured after JIT compilation. The raw vmapped SMAX step rate (no
dataset writes) is reported beside it.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from latentworld.data import collect, random_policy

RUNS = [  # (env id, num_envs, episodes multiplier)
    ("smax-3m", 1, 1), ("smax-3m", 256, 20), ("smax-3s5z", 1, 1), ("smax-3s5z", 256, 20),
    ("flatland-30x30-3c-5t", 1, 1), ("mpe-simple_spread_v3", 1, 1),
]


def raw_smax_rate(name: str, num_envs: int, seconds: float = 5.0) -> float:
    from latentworld.adapters.smax import SMAXBatch

    batch, policy = SMAXBatch(name, num_envs), random_policy(0)
    cur = batch.reset()
    t, n = time.perf_counter(), 0
    while time.perf_counter() - t < seconds:
        _, cur = batch.step(policy(cur.obs, cur.action_mask))
        n += num_envs
    return n / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--out", default="docs/collect_speed.md")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (env_id, num_envs, mult) in enumerate(RUNS):
            s = collect(env_id, Path(tmp) / str(k), args.episodes * mult, num_envs=num_envs, seed=0)
            win = "n/a" if s.win_rate is None else f"{s.win_rate:.1%}"
            rows.append(f"| {env_id} | {num_envs} | {s.episodes} | {s.steps / s.episodes:.1f} | "
                        f"{s.mean_return:.3f} | {win} | {s.steps_per_s:,.0f} |")
            print(rows[-1], flush=True)
    raw = [f"| smax-{m} | {e} | {raw_smax_rate(m, e):,.0f} |" for m in ("3m", "3s5z") for e in (1, 256, 1024)]
    text = "\n".join([
        "# Random-policy collection: returns and speed", "",
        f"Measured with `python benchmarks/collect_speed.py --episodes {args.episodes}` on "
        f"{platform.machine()}, CPU only, 2 cores.", "",
        "| env | envs | episodes | mean length | mean team return | win rate | env steps/s (with writes) |",
        "|---|---|---|---|---|---|---|", *rows, "",
        "Raw vmapped SMAX stepping (random available actions, no dataset writes):", "",
        "| env | envs | env steps/s |", "|---|---|---|", *raw, "",
    ])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
