"""Milliseconds per world-model gradient step, variants side by side in one process.

Alternates the variants step by step on the same batch (so machine load hits them alike) and
reports the mean over the timed steps: the disagreement ensemble on every row
(``ensemble_every=1``) against every 4th row (the default), without an ensemble, and the
default under bf16 autocast.

    python benchmarks/trainer_step.py --batch 16 64

Data: 200 random smax-3m episodes (seed 0). Results: benchmarks/results/trainer_step.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"ensemble on every row": ({"ensemble_every": 1}, False),
            "ensemble on every 4th row (default)": ({}, False),
            "no ensemble": ({"ensemble": 0}, False),
            "default, bf16 autocast": ({}, True)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, nargs="+", default=[16, 64])
    p.add_argument("--steps", type=int, default=10, help="timed steps per variant (after 2 warm-up steps)")
    a = p.parse_args()
    torch.set_num_threads(1)
    from latentworld.data import EpisodeDataset, SequenceSampler, collect
    from latentworld.model import WorldModelConfig
    from latentworld.model.world_model import WorldModel, batch_to_torch

    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        collect("smax-3m", Path(tmp) / "data", 200, seed=0, num_envs=64, progress=False)
        ds = EpisodeDataset.open(Path(tmp) / "data")
        for bs in a.batch:
            batch = batch_to_torch(SequenceSampler(ds, 20, seed=0).sample(bs))
            models = {}
            for name, (kw, _) in VARIANTS.items():
                torch.manual_seed(0)
                m = WorldModel(ds.spec, WorldModelConfig(**kw))
                models[name] = (m, torch.optim.Adam(m.parameters()))
            total = dict.fromkeys(VARIANTS, 0.0)
            for rep in range(a.steps + 2):
                for name, (m, opt) in models.items():
                    t0 = time.perf_counter()
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=VARIANTS[name][1]):
                        loss, _ = m.loss(batch)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    if rep >= 2:
                        total[name] += time.perf_counter() - t0
            out[f"batch {bs}"] = {k: round(v / a.steps * 1000, 1) for k, v in total.items()}
            print(bs, out[f"batch {bs}"], flush=True)
    path = ROOT / "benchmarks" / "results" / "trainer_step.json"
    path.write_text(json.dumps({"ms_per_step": out, "threads": 1, "torch": torch.__version__}, indent=2))


if __name__ == "__main__":
    main()
