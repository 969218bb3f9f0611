"""World-model fidelity on fixed data: the fast inner loop for every change to the model.

Each variant trains a fresh world model on the same real episodes (``benchmarks/fidelity_data.py``:
random play and model-free MAPPO snapshots winning ~0%, ~30% and ~60%) for the same number of
training sequences, then is measured on the held-out episodes (every 10th) with
:func:`latentworld.model.fidelity.measure` at the loop's horizon: reward skill (expectation over
8 sampled rollouts, and the mode rollout), the same per level of play, the Brier score of a win
within the horizon, observation error against copying the start observation, and the doubt
cut: per-step limits from one half of the held-out starts, the share of the other half's
sampled rollouts they cut and the steps kept (with one flat limit, the first step's, beside it).

    python benchmarks/fidelity_data.py smax-2s3z                 # once per map
    python benchmarks/fidelity.py smax-2s3z --variants loop-old outcome
    python benchmarks/fidelity.py --report                       # docs/fidelity.md from the results

Results: ``benchmarks/results/fidelity/<env>/<variant>.json`` (committed); models in
``runs/fidelity/<env>/<variant>`` (gitignored).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from latentworld import jsonutil

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "fidelity"
RESULTS = ROOT / "benchmarks" / "results" / "fidelity"
DOC = ROOT / "docs" / "fidelity.md"

# model: WorldModelConfig fields; batch: sequences per gradient step (the budget is in sequences)
VARIANTS: dict[str, dict] = {
    # the loop's model before this benchmark: continuation head, squared-error reward, obs weight 1
    "loop-old": {"model": {"outcome": False, "obs_scale": 1.0}},
    # the episode end as an outcome (continue / win / end without a win), a learned win bonus
    "outcome": {"model": {"outcome": True, "obs_scale": 1.0}},
    # a two-hot reward head instead (DreamerV3), no outcome
    "two-hot": {"model": {"outcome": False, "reward_bins": 65, "obs_scale": 1.0}},
    # both
    "outcome-two-hot": {"model": {"outcome": True, "reward_bins": 65, "obs_scale": 1.0}},
    # train-model's observation weight
    "outcome-obs10": {"model": {"outcome": True, "obs_scale": 10.0}},
    # the same sequences in batches of 64 (a quarter of the gradient steps)
    "outcome-b64": {"model": {"outcome": True, "obs_scale": 1.0}, "batch": 64},
    # batches of 64 and four times the sequences (the same gradient steps as batch 16)
    "outcome-b64-x4": {"model": {"outcome": True, "obs_scale": 1.0}, "batch": 64, "scale": 4},
}


def horizon_for(n_agents: int) -> int:
    from latentworld.loop import LoopConfig

    return LoopConfig().imagination_horizon(n_agents)


def run_variant(env_id: str, name: str, sequences: int, seed: int) -> dict:
    from latentworld.model import ModelTrainer, TrainConfig, WorldModelConfig
    from latentworld.model.fidelity import cut_share, measure

    v = VARIANTS[name]
    data = RUNS / env_id / "data"
    levels = json.loads((RUNS / env_id / "levels.json").read_text())
    out = RUNS / env_id / name
    if out.exists():
        shutil.rmtree(out)
    batch = int(v.get("batch", 16))
    steps = int(round(sequences * v.get("scale", 1) / batch))
    tc = TrainConfig(batch_size=batch, seq_len=20, seed=seed, start_bank=64)
    tr = ModelTrainer(data, out, model_config=WorldModelConfig(**v["model"]), config=tc)
    cpu0 = time.process_time()
    tr.train(steps)
    train_cpu = time.process_time() - cpu0
    tr.save()  # kept under runs/ so a variant can be scored again without training
    model, held = tr.model, tr.held_s
    H = horizon_for(tr.ds.spec.n_agents)
    # held-out positions of each level's episodes (the sampler holds the held-out ones in order)
    held_ids = list(tr.held_idx)
    groups = {lv["level"]: [i for i, e in enumerate(held_ids) if lv["episodes"][0] <= e < lv["episodes"][1]]
              for lv in levels["levels"]}
    res: dict = {"env_id": env_id, "variant": name, "config": v, "seed": seed, "train_steps": steps,
                 "sequences": steps * batch, "train_cpu_seconds": train_cpu, "horizon": H,
                 "train_loss": tr.train_loss}
    for hist_name, history in (("whole", None), ("window", tc.seq_len - 1)):
        f = measure(model, held, horizon=H, samples=8, history=history, max_starts=1024, seed=seed, groups=groups)
        res[f"history_{hist_name}"] = {
            "reward_skill": f.reward_skill, "reward_skill_mode": f.reward_skill_mode, "per_level": f.groups,
            "win_brier": f.win_brier, "win_brier_base": f.win_brier_base,
            "obs_error": {str(k): e for k, e in f.obs_error.items()}, "starts": f.starts, "seconds": f.seconds}
    # the doubt cut: limits from one half of the held-out episodes, acting on the other half
    half = len(held.episodes) // 2
    from latentworld.data import SequenceSampler

    a = SequenceSampler(tr.ds, 1, episodes=held_ids[:half])
    b = SequenceSampler(tr.ds, 1, episodes=held_ids[half:])
    if len(model.ens):
        lim = measure(model, a, horizon=H, samples=4, history=tc.seq_len - 1, max_starts=1024, seed=seed,
                      obs_steps=()).doubt_limits
        share, kept = cut_share(model, b, lim, horizon=H, history=tc.seq_len - 1, seed=seed + 1)
        flat, flat_kept = cut_share(model, b, [lim[0]] * len(lim), horizon=H, history=tc.seq_len - 1, seed=seed + 1)
        res["doubt"] = {"limits": lim, "cut_share": share, "kept_steps": kept,
                        "flat_limit_cut_share": flat, "flat_limit_kept_steps": flat_kept}
    if model.outcome:
        res["win_bonus"] = float(model.win_bonus)
    return res


def report() -> str:
    rows = []
    for env_dir in sorted(RESULTS.glob("smax-*")):
        levels = json.loads((env_dir / "levels.json").read_text()) if (env_dir / "levels.json").exists() else None
        for f in sorted(env_dir.glob("*.json")):
            if f.name == "levels.json":
                continue
            rows.append(json.loads(f.read_text()))
        if levels:
            rows.append({"levels_of": env_dir.name, **levels})
    lines = ["# World-model fidelity on fixed data",
             "",
             "Rebuilt by `python benchmarks/fidelity.py --report` from `benchmarks/results/fidelity/`.",
             "Each variant trains a fresh model on the same real episodes of four levels of play (random,",
             "model-free MAPPO snapshots at ~0%, ~30% and ~60% training win rate) for the same number of",
             "sequences (20 rows each); scores are on the held-out episodes (every 10th) at the loop's",
             "horizon (15 steps for up to 3 agents, 12 for 4-6, 8 for more). Reward skill = 1 - MSE / variance",
             "of the discounted H-step team return; *sampled* is the mean over 8 sampled rollouts (what",
             "imagination sees on average), *mode* the rollout of the latents' modes. *30% / 60% levels*: the",
             "skill within the episodes of the policies that win ~30% and ~60% (the issue's bar: >= 0.6). Brier: P(win within H), with the",
             "base rate's Brier beside it. obs k=1 / k=H: observation MSE over copying the start observation.",
             "Doubt: per-step limits (0.95 quantile of the running maximum of the ensemble's doubt) from half",
             "the held-out starts, the share of the other half's sampled rollouts they cut and the steps kept;",
             "*flat*: one limit (the first step's) at every step, the shape of the old rule. Rows made at",
             "769303c took per-step limits as the plain 0.95 quantile of the running maximum; from 4b6607b the",
             "limits are calibrated to cut 5% of the rollouts they come from (`calibrated_limits`).",
             "CPU seconds: training alone, one thread, while a second job shared the two cores.",
             ""]
    fmt = lambda x: "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.2f}"  # noqa: E731
    for env in sorted({r["env_id"] for r in rows if "env_id" in r and "variant" in r}):
        lv = next((r for r in rows if r.get("levels_of") == env), None)
        lines += [f"## {env}", ""]
        if lv:
            lines.append("Levels: " + ", ".join(f"{x['level']} ({x['episodes'][1] - x['episodes'][0]} episodes, "
                                                f"{100 * x['win_rate']:.0f}% won)" for x in lv["levels"]) + ".")
            lines.append("")
        lines += ["| variant | skill sampled | skill mode | skill 30% / 60% levels | skill random | skill (window "
                  "starts) | Brier (base) | obs k=1 / k=H | doubt cut / kept | flat cut / kept | win bonus | train CPU s "
                  "| commit |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        order = list(VARIANTS)
        mine = sorted([r for r in rows if r.get("env_id") == env and "variant" in r],
                      key=lambda r: order.index(r["variant"]) if r["variant"] in order else len(order))
        for r in mine:
            w, win = r["history_whole"], r["history_window"]
            pl = w["per_level"]
            hi = [pl[k] for k in ("mappo-30", "mappo-60") if k in pl]
            d = r.get("doubt", {})
            oe = w["obs_error"]
            lines.append(
                f"| {r['variant']} | {fmt(w['reward_skill'])} | {fmt(w['reward_skill_mode'])} | "
                f"{' / '.join(fmt(x) for x in hi) or 'n/a'} | {fmt(pl.get('random'))} | {fmt(win['reward_skill'])} | "
                f"{fmt(w['win_brier'])} ({fmt(w['win_brier_base'])}) | {fmt(oe.get('1'))} / {fmt(oe.get(str(r['horizon'])))} | "
                f"{fmt(d.get('cut_share'))} / {fmt(d.get('kept_steps'))} | {fmt(d.get('flat_limit_cut_share'))} / "
                f"{fmt(d.get('flat_limit_kept_steps'))} | {fmt(r.get('win_bonus'))} | {r['train_cpu_seconds']:.0f} "
                f"| {r.get('commit', 'n/a')} |")
        lines.append("")
    text = "\n".join(lines)
    DOC.write_text(text)
    return text


def _git_commit() -> str | None:
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env_id", nargs="?")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--sequences", type=int, default=24_000, help="training sequences per variant (20 rows each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report", action="store_true", help="write docs/fidelity.md from the committed results")
    a = p.parse_args()
    if a.report:
        print(report())
        return
    if not a.env_id:
        p.error("name an env id (or --report)")
    torch.set_num_threads(1)
    for name in a.variants:
        t0 = time.perf_counter()
        res = run_variant(a.env_id, name, a.sequences, a.seed)
        res["wall_seconds"] = time.perf_counter() - t0
        res["commit"] = _git_commit()
        out = RESULTS / a.env_id / f"{name}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(jsonutil.dumps(res, indent=2))
        print(json.dumps({k: res[k] for k in ("variant", "history_whole", "doubt") if k in res}, indent=1), flush=True)


if __name__ == "__main__":
    main()
