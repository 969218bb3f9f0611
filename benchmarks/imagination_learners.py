"""Every bundled learner trained only inside a world model, then played for real.

    python benchmarks/imagination_learners.py smax-3m --steps 60000 --algos mappo vdn qmix qplex

Each learner trains on ``make_vec(env_id, model, NUM_ENVS, start="any", horizon=15)`` and is
evaluated on real episodes with decentralized execution (each agent encodes only its own
observations). The model is the shipped one unless ``--model`` names a checkpoint. Writes
``docs/imagination_learners.md`` for smax-3m, ``docs/imagination_learners_<env>.md`` (with a
bar plot) for other maps, and the numbers to ``benchmarks/results/imagination_learners/<env>.json``.

Many agents (smax-25m: MF-Q, MF-AC, MAPPO and VDN in a world model of that map):

    latentworld collect smax-25m --episodes 1000 --num-envs 100 --out runs/mf/smax-25m-data
    latentworld train-model smax-25m --data runs/mf/smax-25m-data --out runs/mf/smax-25m-model \\
        --threads 1 --steps 1500 --eval-every 250
    python benchmarks/imagination_learners.py smax-25m --model runs/mf/smax-25m-model \\
        --steps 30000 --num-envs 64 --episodes 100 --algos mfq mfac mappo vdn
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import latentworld
from latentworld.loop import make_learner
from latentworld.metrics import evaluate

ROOT = Path(__file__).resolve().parents[1]


def _table(results: list[dict], steps: int) -> str:
    """One row per learner: real win per seed, its IQM [95% CI] over seeds, the median return."""
    from latentworld.stats import iqm

    rows = []
    for algo in dict.fromkeys(r["algo"] for r in results):
        rs = [r for r in results if r["algo"] == algo]
        wins = [r["win_rate"] for r in rs]
        ci = iqm(wins).pct() if len(rs) > 1 else "–"
        secs = f"{np.median([r['train_seconds'] for r in rs]):.0f} s" if algo != "random" else "–"
        rows.append(f"| {algo} | {f'{steps:,}' if algo != 'random' else '–'} | {secs} | "
                    f"{', '.join(f'{100 * w:.1f}%' for w in wins)} | {ci} | "
                    f"{np.median([r['mean_return'] for r in rs]):.3f} |")
    return "\n".join(["| learner | imagined steps | training time | real win rate per seed | IQM [95% CI] over seeds "
                      "| real return (median over seeds) |", "|---|---|---|---|---|---|", *rows])


def _plot(results: list[dict], env_id: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    names = list(dict.fromkeys(r["algo"] for r in results))
    for ax, key, label in ((axes[0], "mean_return", "real team return"), (axes[1], "win_rate", "real win rate")):
        ax.bar(names, [np.median([r[key] for r in results if r["algo"] == n]) for n in names],
               color=["grey"] + ["C0"] * (len(names) - 1))
        ax.set_ylabel(label)
    fig.suptitle(f"{env_id}: trained only in imagination, played for real")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env_id", nargs="?", default="smax-3m")
    p.add_argument("--model", default=None, help="world-model checkpoint (default: the shipped one)")
    p.add_argument("--steps", type=int, default=60_000, help="imagined env steps per learner")
    p.add_argument("--num-envs", type=int, default=256, help="learned envs stepped together")
    p.add_argument("--algos", nargs="+", default=["mappo", "vdn", "qmix", "qplex"])
    p.add_argument("--episodes", type=int, default=200, help="real evaluation episodes")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per learner and seed")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    path = a.model or latentworld.default_checkpoint(a.env_id)
    if path is None:
        p.error(f"no world model is shipped for {a.env_id}; pass --model (see this script's help)")
    model = latentworld.load_model(path, a.env_id)
    results = []
    for seed in a.seeds:
        t0 = time.perf_counter()
        random = evaluate("random", a.env_id, a.episodes, seed=seed + 1)
        results.append({"algo": "random", "seed": seed, "train_seconds": 0.0,
                        "eval_seconds": time.perf_counter() - t0, **random.to_dict()})
        print(json.dumps(results[-1]), flush=True)
        for algo in a.algos:
            env = latentworld.make_vec(a.env_id, model, a.num_envs, start="any", horizon=15, seed=seed)
            learner = make_learner(algo, env.obs_dim, env.state_dim, env.n_agents, env.n_actions, seed=seed)
            t0 = time.perf_counter()
            learner.learn(env, a.steps, progress=False)
            secs = time.perf_counter() - t0
            t1 = time.perf_counter()
            r = evaluate(learner, a.env_id, a.episodes, model=model[0], seed=seed + 2)
            results.append({"algo": algo, "seed": seed, "train_seconds": secs,
                            "eval_seconds": time.perf_counter() - t1, **r.to_dict()})
            print(json.dumps(results[-1]), flush=True)
    table = _table(results, a.steps)
    res_dir = ROOT / "benchmarks" / "results" / "imagination_learners"
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / f"{a.env_id}.json").write_text(json.dumps({"args": vars(a), "results": results}, indent=2))
    shipped = a.model is None
    stem = "imagination_learners" if a.env_id == "smax-3m" and shipped else f"imagination_learners_{a.env_id}"
    plot = ""
    if not (a.env_id == "smax-3m" and shipped):
        _plot(results, a.env_id, ROOT / "docs" / f"{stem}.png")
        plot = f"\n![real return and win rate per learner]({stem}.png)\n"
    cmd = " ".join(["python benchmarks/imagination_learners.py", a.env_id]
                   + ([f"--model {a.model}"] if a.model else [])
                   + [f"--steps {a.steps}", f"--num-envs {a.num_envs}", f"--episodes {a.episodes}",
                      "--algos", *a.algos, "--seeds", *map(str, a.seeds)])
    model_note = "the shipped world model" if shipped else f"the world model at `{a.model}` (see the script's help " \
        "for the commands that build it)"
    (ROOT / "docs" / f"{stem}.md").write_text(
        f"# Learners trained only in imagination ({a.env_id})\n\nWritten by `{cmd}` (seeds {', '.join(map(str, a.seeds))}, "
        f"{a.threads} torch thread(s), CPU) in {model_note}. Real win rate and team return over "
        f"{a.episodes} real episodes per seed, greedy actions, decentralized execution; with several seeds "
        f"the real win's interquartile mean over seeds with its 95% stratified-bootstrap CI (rliable); "
        f"training time is the median wall-clock for the imagined steps.\n\n{table}\n{plot}")
    print(table)


if __name__ == "__main__":
    main()
