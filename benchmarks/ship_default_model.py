"""Make a world model of the model zoo that ships with the package.

It is the project's own pipeline end to end: the loop with its defaults (``latentworld
run``, resumable) on the real env, then its final world model polished on all the run's
data and exported in half precision with a small, xz-compressed start-state bank encoded
from the newest real episodes (at most 4 MB; ``latentworld list --models`` shows it).

    python benchmarks/ship_default_model.py smax-3m --env-steps 50000
    python benchmarks/ship_default_model.py smax-2s3z --from-run runs/sample_efficiency/smax-2s3z/mabl-s0

Writes ``latentworld/checkpoints/<env_id>/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict
from pathlib import Path

from latentworld.loop import LoopConfig, run
from latentworld.model import TrainConfig, WorldModelConfig, train_model
from latentworld.model.checkpoint import read_meta
from latentworld.model.export import export_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env_id", nargs="?", default="smax-3m")
    p.add_argument("--env-steps", type=int, default=30_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bank", type=int, default=256, help="start states of each kind to ship")
    p.add_argument("--polish-steps", type=int, default=1000,
                   help="extra world-model steps on all the run's data before export")
    p.add_argument("--from-run", default=None,
                   help="export from this finished `latentworld run` directory (its config.json must be the loop's "
                        "defaults) instead of running the loop again")
    a = p.parse_args()
    if a.from_run:
        out = Path(a.from_run)
        cfg = json.loads((out / "config.json").read_text())
        defaults = asdict(LoopConfig(env_id=cfg["env_id"], env_steps=cfg["env_steps"], seed=cfg["seed"]))
        odd = sorted(k for k in cfg.keys() | defaults.keys() if cfg.get(k) != defaults.get(k))
        if cfg["env_id"] != a.env_id or odd:
            p.error(f"{out} is not a default-settings run of {a.env_id} (differs in {odd or ['env_id']})")
        res = json.loads((out / "summary.json").read_text())
        a.env_steps, a.seed = cfg["env_steps"], cfg["seed"]
    else:
        out = ROOT / "runs" / f"ship-{a.env_id.removeprefix('smax-')}"
        res = run(LoopConfig(env_id=a.env_id, env_steps=a.env_steps, seed=a.seed), out)
    # Polish a copy: the loop's model trained with recent data drawn more often; more steps on
    # all of it make a model that serves any policy, not only the run's last one.
    staged = out / "model-polished"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(out / "model", staged)
    meta = read_meta(staged)
    tc = TrainConfig(**{**meta["train_config"], "steps": meta["train_steps"] + a.polish_steps,
                        "eval_every": max(a.polish_steps, 1)})
    train_model(out / "data", staged, model_config=WorldModelConfig.from_dict(meta["config"]), config=tc)
    dst = ROOT / "latentworld" / "checkpoints" / a.env_id
    shutil.rmtree(dst, ignore_errors=True)  # no file of an older model may stay beside the new one
    info = export_checkpoint(staged, dst, out / "data", bank=a.bank, seed=a.seed,
                             note=f"latentworld run {a.env_id} --env-steps {a.env_steps} --seed {a.seed}, "
                                  f"then {a.polish_steps} more world-model steps on all its data",
                             real_env_steps=int(res["env_steps"]))
    if info["bytes"] > 4 * 2**20:
        raise SystemExit(f"{dst} is {info['bytes'] / 2**20:.1f} MB, over the zoo's 4 MB: use a smaller --bank")
    print(json.dumps({"run": res, "shipped": info}))


if __name__ == "__main__":
    main()
