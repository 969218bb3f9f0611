"""Held-out loss per wall-second of world-model training at several batch sizes.

Sequences/s alone rewards big batches; what a run buys with its time is a lower held-out loss.
This trains one model per setting on the same data for the same wall-clock budget and records
(seconds, gradient steps, held-out loss) about every 30 s. Evaluation time is not counted.

    python benchmarks/trainer_batch.py --settings 16:1:3e-4 64:4:3e-4 64:4:6e-4 32:4:3e-4

A setting is BATCH:ENSEMBLE_EVERY:LR. Data: ``--episodes`` random smax-3m episodes (seed 0).
Results: benchmarks/results/trainer_batch/<name>.jsonl, one line per setting.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def curve(data: Path, out: Path, batch: int, every: int, lr: float, budget: float) -> list[tuple]:
    """[(seconds of training, gradient steps, held-out loss)] for one setting."""
    from latentworld.model import TrainConfig, WorldModelConfig
    from latentworld.model.trainer import ModelTrainer

    tr = ModelTrainer(data, out, model_config=WorldModelConfig(ensemble_every=every, lr=lr),
                      config=TrainConfig(batch_size=batch, seed=0, start_bank=16))
    spent, rows, next_eval, chunk = 0.0, [], 0.0, max(1, 320 // batch)
    while spent < budget:
        t = time.perf_counter()
        tr.train(chunk)
        spent += time.perf_counter() - t
        if spent >= next_eval:
            rows.append((round(spent), tr.step, round(tr.evaluate()["loss"], 3)))
            next_eval += 30
    rows.append((round(spent), tr.step, round(tr.evaluate()["loss"], 3)))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settings", nargs="+", default=["16:1:3e-4", "64:4:3e-4", "64:4:6e-4", "32:4:3e-4"])
    p.add_argument("--budget", type=float, default=240.0, help="training seconds per setting")
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--name", default="smax-3m-random200")
    a = p.parse_args()
    torch.set_num_threads(1)
    from latentworld.data import collect

    res = ROOT / "benchmarks" / "results" / "trainer_batch" / f"{a.name}.jsonl"
    res.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        collect("smax-3m", data, a.episodes, seed=0, num_envs=64, progress=False)
        lines = []
        for s in a.settings:
            batch, every, lr = s.split(":")
            rows = curve(data, Path(tmp) / f"wm-{s}", int(batch), int(every), float(lr), a.budget)
            lines.append(json.dumps({"bs": int(batch), "every": int(every), "lr": float(lr), "curve": rows}))
            print(lines[-1], flush=True)
    res.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
