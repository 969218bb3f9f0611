"""Throughput: the learned env beside real SMAX, and world-model training speed.

    python benchmarks/throughput.py                 # writes docs/throughput.md
    python benchmarks/throughput.py --maps 3m --quick

Env rows: env-steps/s with random actions (untrained model with the default config:
speed depends on shapes, not on weights). Training rows: ``train_model`` on a fresh
random-policy dataset of each map, sequences/s and agent-steps/s after a short warm-up.
CUDA rows appear when a GPU is present.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latent_env_speed import latent_single, latent_vector, real_batch, real_single  # noqa: E402

from latentworld.data import collect  # noqa: E402
from latentworld.model import TrainConfig, WorldModel, WorldModelConfig, train_model  # noqa: E402


def train_rate(env_id: str, data: Path, steps: int, device: str, tmp: Path) -> tuple[float, float]:
    """(sequences/s, agent-steps/s) of world-model training on ``data``."""
    out = tmp / f"wm-{device}"
    warm = TrainConfig(steps=5, eval_every=10_000, device=device, start_bank=16)
    train_model(data, out, config=warm, progress=False)  # allocations, first-call overheads
    cfg = TrainConfig(steps=5 + steps, eval_every=10_000, device=device, start_bank=16)
    res = train_model(data, out, config=cfg, progress=False)  # resumes: times only the new steps
    return res.sequences_per_s, res.agent_steps_per_s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--maps", default="3m,3s5z")
    p.add_argument("--quick", action="store_true", help="fewer steps")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", default="docs/throughput.md")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from latentworld.adapters.smax import smax_spec

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    env_rows, train_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.maps.split(","):
            spec, env_id = smax_spec(name), f"smax-{name}"
            torch.manual_seed(0)
            model = WorldModel(spec, WorldModelConfig()).eval()
            real1 = real_single(name, 200 if args.quick else 1000)
            env_rows += [(name, "real SMAX, one env", "cpu", real1),
                         (name, "real SMAX, 256 envs vmapped", "cpu", real_batch(name, 256, 10 if args.quick else 40)),
                         (name, "learned env, one env (LatentParallelEnv)", "cpu",
                          latent_single(model, 300 if args.quick else 2000))]
            for dev in devices:
                for envs in (256, 1024):
                    steps = (20 if args.quick else 60) if dev == "cpu" else 100
                    env_rows.append((name, f"learned env, {envs} envs (LatentVectorEnv)", dev,
                                     latent_vector(model.to(dev), envs, steps, dev)))
                model = model.to("cpu")
            data = Path(tmp) / f"data-{name}"
            collect(env_id, data, 60, seed=0, num_envs=60, progress=False)
            for dev in devices:
                seq, agent = train_rate(env_id, data, 20 if args.quick else 100, dev, Path(tmp) / name)
                train_rows.append((name, dev, seq, agent))
            print(f"done {name}", flush=True)

    cfg, tc = WorldModelConfig(), TrainConfig()
    base = {name: r for name, what, _, r in env_rows if what == "real SMAX, one env"}
    text = "\n".join([
        "# Throughput", "",
        f"Measured by `python benchmarks/throughput.py{' --quick' if args.quick else ''}` on "
        f"{platform.machine()}, {args.threads} torch thread(s), torch {torch.__version__}, "
        + (f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU") + ". "
        f"Default world model (deter {cfg.deter}, latent {cfg.stoch}x{cfg.classes}); random actions.", "",
        "| map | env | device | env-steps/s | vs real single env |", "|---|---|---|---:|---:|",
        *[f"| {n} | {w} | {d} | {r:,.0f} | {r / base[n]:.1f}x |" for n, w, d, r in env_rows], "",
        f"World-model training (batch {tc.batch_size} sequences of {tc.seq_len} steps, 60 random episodes):", "",
        "| map | device | sequences/s | agent-steps/s |", "|---|---|---:|---:|",
        *[f"| {n} | {d} | {s:,.1f} | {a:,.0f} |" for n, d, s, a in train_rows], "",
    ])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
