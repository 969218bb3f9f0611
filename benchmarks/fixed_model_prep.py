"""Make the fixed models that benchmarks/fixed_model_probe.py was run on (smax-3m, late 2026).

A finished run's model from before ``reward_global`` and ``ensemble`` existed is given
(1) a fresh reward head on the full features, trained with the rest of the model for
``--reward-steps`` steps on the run's data, then (2) a disagreement ensemble trained alone
(everything else frozen) for ``--ensemble-steps`` steps:

    python benchmarks/fixed_model_prep.py runs/sample_efficiency/smax-3m/mabl-agent-reward-s0 \
        --out /tmp/ft-rg --reward-steps 1500 --ensemble-steps 0
    python benchmarks/fixed_model_prep.py /tmp/ft-rg --out /tmp/ft-ens --reward-steps 0 --ensemble-steps 1500

The output directory holds ``model/``, a link to the run's ``data/`` and its ``config.json``,
so the probe reads it like a run.
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import replace
from pathlib import Path

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a run directory (model/, data/, config.json)")
    p.add_argument("--out", required=True, help="new directory (replaced if it exists)")
    p.add_argument("--reward-steps", type=int, default=1500, help="steps with a fresh global reward head (0: keep)")
    p.add_argument("--ensemble-steps", type=int, default=0, help="steps of a fresh 5-head ensemble (0: none)")
    a = p.parse_args()
    torch.set_num_threads(1)
    from latentworld.model import ModelTrainer, TrainConfig, load_model

    run, out = Path(a.run), Path(a.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "data").symlink_to((run / "data").resolve())
    shutil.copy(run / "config.json", out / "config.json")
    old, _ = load_model(run / "model")
    cfg = old.cfg
    if a.reward_steps:
        cfg = replace(cfg, reward_global=True)
    if a.ensemble_steps:
        cfg = replace(cfg, ensemble=5)
    tc = TrainConfig(batch_size=16, seq_len=20, seed=0, start_bank=1024)
    tr = ModelTrainer(out / "data", out / "model", config=tc, model_config=cfg)
    keep = {k: v for k, v in old.state_dict().items() if not (a.reward_steps and k.startswith("reward_head"))}
    tr.model.load_state_dict(keep, strict=False)
    t0 = time.perf_counter()
    if a.reward_steps:
        tr.train(a.reward_steps)
        print(f"reward head: {a.reward_steps} steps, {time.perf_counter() - t0:.0f} s, held-out {tr.evaluate()}")
    if a.ensemble_steps:
        m = tr.model
        opt = torch.optim.Adam(m.ens.parameters(), lr=1e-3)
        for _ in range(a.ensemble_steps):
            b = m._inputs(tr.train_s.sample(tc.batch_size))
            with torch.no_grad():
                st, _ = m.observe(b)
                target = m.obs_enc(b["obs"])  # [B, T, N, E]
            alive = b["valid"][..., None] & b["alive"]  # [B, T, N]
            err = ((m._ens_predict(st.h_a, st.z_g) - target) ** 2).mean((0, -1))  # [B, T, N]
            loss = (err * alive).sum() / alive.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"ensemble: {a.ensemble_steps} steps, last loss {loss.item():.4f}")
    tr.step = max(tr.step, 1)
    tr.save()


if __name__ == "__main__":
    main()
