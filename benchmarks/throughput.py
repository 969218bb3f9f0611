"""Throughput: the learned env beside real SMAX, and world-model training speed.

    python benchmarks/throughput.py                 # writes docs/throughput.md
    python benchmarks/throughput.py --maps 3m --quick

Env rows: env-steps/s with random actions (untrained model with the default config:
speed depends on shapes, not on weights); the two single envs are timed as in
``latent_env_speed.py``: ``step()`` alone, taking turns, median of 5 rounds. Training rows:
``train_model`` on a fresh random-policy dataset of each map, sequences/s and agent-steps/s
after a short warm-up.
CUDA rows appear when a GPU is present.

``--compare REV`` also times the world-model trainer of another commit side by side (same
data, same settings, same machine, one after the other): the commit is checked out into a
temporary git worktree and its ``train_model`` runs in a subprocess; ``--train-only`` skips
the env rows.

    python benchmarks/throughput.py --maps 3m --train-only --compare 3bed666
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latent_env_speed import latent_vector, real_batch, singles  # noqa: E402

from latentworld.data import collect  # noqa: E402
from latentworld.model import TrainConfig, WorldModel, WorldModelConfig, train_model  # noqa: E402


def env_speed(name: str, spec, devices: list[str], quick: bool) -> list[tuple[str, str, str, float]]:
    """(map, env, device, env-steps/s) rows: real SMAX and the learned env (untrained model)."""
    torch.manual_seed(0)
    model = WorldModel(spec, WorldModelConfig()).eval()
    real, latent = singles(name, model, 200 if quick else 1000)  # taking turns, median of 5 rounds each
    rows = [(name, "real SMAX, one env", "cpu", real),
            (name, "real SMAX, 256 envs vmapped", "cpu", real_batch(name, 256, 10 if quick else 40)),
            (name, "learned env, one env (LatentParallelEnv)", "cpu", latent)]
    for dev in devices:
        for envs in (256, 1024):
            steps = (20 if quick else 60) if dev == "cpu" else 100
            rows.append((name, f"learned env, {envs} envs (LatentVectorEnv)", dev,
                         latent_vector(model.to(dev), envs, steps, dev)))
        model = model.to("cpu")
    return rows


def train_rate(env_id: str, data: Path, steps: int, device: str, tmp: Path) -> tuple[float, float]:
    """(sequences/s, agent-steps/s) of world-model training on ``data``."""
    out = tmp / f"wm-{device}"
    warm = TrainConfig(steps=5, eval_every=10_000, device=device, start_bank=16)
    train_model(data, out, config=warm, progress=False)  # allocations, first-call overheads
    cfg = TrainConfig(steps=5 + steps, eval_every=10_000, device=device, start_bank=16)
    res = train_model(data, out, config=cfg, progress=False)  # resumes: times only the new steps
    return res.sequences_per_s, res.agent_steps_per_s


_TIMER = """
import json, sys, torch
torch.set_num_threads(int(sys.argv[4]))
from latentworld.model import TrainConfig, train_model
data, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
train_model(data, out, config=TrainConfig(steps=5, eval_every=10_000, start_bank=16), progress=False)
res = train_model(data, out, config=TrainConfig(steps=5 + steps, eval_every=10_000, start_bank=16), progress=False)
print(json.dumps([res.sequences_per_s, res.agent_steps_per_s]))
"""


def train_rate_at(rev: str, data: Path, steps: int, threads: int, tmp: Path) -> tuple[float, float]:
    """:func:`train_rate` of the trainer at git commit ``rev`` (cpu), in a subprocess."""
    root = Path(__file__).resolve().parents[1]
    tree = tmp / f"tree-{rev}"
    if not tree.exists():
        subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(tree), rev], check=True,
                       capture_output=True)
    try:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        out = subprocess.run([sys.executable, "-c", _TIMER, str(data), str(tmp / f"wm-{rev}"), str(steps),
                              str(threads)], env=env, check=True, capture_output=True, text=True)
    finally:
        subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)], capture_output=True)
    seq, agent = json.loads(out.stdout.strip().splitlines()[-1])
    return seq, agent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--maps", default="3m,3s5z")
    p.add_argument("--quick", action="store_true", help="fewer steps")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", default="docs/throughput.md")
    p.add_argument("--train-only", action="store_true", help="only the world-model training rows")
    p.add_argument("--compare", default=None, metavar="REV",
                   help="also time the trainer of this git commit, side by side")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from latentworld.adapters.smax import smax_spec

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    env_rows, train_rows = [], []
    steps = 20 if args.quick else 100
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.maps.split(","):
            spec, env_id = smax_spec(name), f"smax-{name}"
            if not args.train_only:
                env_rows += env_speed(name, spec, devices, args.quick)
            data = Path(tmp) / f"data-{name}"
            collect(env_id, data, 60, seed=0, num_envs=60, progress=False)
            if args.compare:  # the other commit first, then this one, on the same data
                seq, agent = train_rate_at(args.compare, data, steps, args.threads, Path(tmp) / name)
                train_rows.append((name, f"cpu, commit {args.compare}", seq, agent))
            for dev in devices:
                seq, agent = train_rate(env_id, data, steps, dev, Path(tmp) / name)
                train_rows.append((name, dev + (", this tree" if args.compare else ""), seq, agent))
            print(f"done {name}", flush=True)

    cfg, tc = WorldModelConfig(), TrainConfig()
    base = {name: r for name, what, _, r in env_rows if what == "real SMAX, one env"}
    flags = " ".join(a for a in sys.argv[1:] if a != "--out" and not a.endswith(".md"))
    lines = [
        "# Throughput" if not args.train_only else "# World-model training speed", "",
        f"Measured by `python benchmarks/throughput.py{' ' + flags if flags else ''}` on "
        f"{platform.machine()}, {args.threads} torch thread(s), torch {torch.__version__}, "
        + (f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU") + ". "
        f"Default world model (deter {cfg.deter}, latent {cfg.stoch}x{cfg.classes}); random actions; "
        "single envs: `step()` alone, the real and the learned env taking turns, median of 5 rounds.", ""]
    if env_rows:
        lines += ["| map | env | device | env-steps/s | vs real single env |", "|---|---|---|---:|---:|",
                  *[f"| {n} | {w} | {d} | {r:,.0f} | {r / base[n]:.1f}x |" for n, w, d, r in env_rows], ""]
    lines += [
        f"World-model training (batch {tc.batch_size} sequences of {tc.seq_len} steps, 60 random episodes, "
        f"{steps} timed steps after 5 warm-up steps; the timed window ends with one held-out evaluation and "
        f"a checkpoint save, as every ``train_model`` call does):", "",
        "| map | trainer | sequences/s | agent-steps/s |", "|---|---|---:|---:|",
        *[f"| {n} | {d} | {s:,.1f} | {a:,.0f} |" for n, d, s, a in train_rows], ""]
    text = "\n".join(lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
