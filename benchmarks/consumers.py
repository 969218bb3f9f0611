"""Each MARL library trains inside the shipped smax-3m learned env, then plays real smax-3m.

Runs the examples (examples/sb3_maskable.py, torchrl_mappo.py, benchmarl_mappo.py,
rllib_example.py, tianshou_dqn.py, epymarl_runner.py) with the budgets below, writes benchmarks/results/consumers/<library>.json
and the README's table, docs/consumers.md:

    python benchmarks/consumers.py            # all libraries (about 6 minutes on one core)
    python benchmarks/consumers.py --only sb3 torchrl
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "consumers"
DOC = ROOT / "docs" / "consumers.md"
RUNS = {  # library: (example file, keyword arguments of its train())
    "sb3": ("sb3_maskable", {"total_timesteps": 600_000}),
    "torchrl": ("torchrl_mappo", {"frames": 122_880}),
    "benchmarl": ("benchmarl_mappo", {"frames": 122_880}),
    "rllib": ("rllib_example", {"iterations": 10, "batch": 4000}),
    "tianshou": ("tianshou_dqn", {"env_steps": 40_000}),
    "epymarl": ("epymarl_runner", {"batches": 60}),
}


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def report() -> str:
    rows = ["| library | example | imagined env steps | training wall | real return, sampled / greedy | "
            "real win, sampled / greedy | masked actions chosen |",
            "|---|---|---|---|---|---|---|"]
    rand = None
    for lib, (example, _) in RUNS.items():
        path = OUT / f"{lib}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        rand = r["random_return"], r["random_win"]
        masked = r.get("masked_actions_chosen", r.get("masked_actions_chosen_real"))
        where = "in imagination" if "masked_actions_chosen" in r else "in real play"
        rows.append(f"| {r['library']} | `examples/{example}.py` | {r['imagined_steps']:,} | {r['seconds']:.0f} s | "
                    f"{r['real_return_sampled']:.2f} / {r['real_return_greedy']:.2f} | "
                    f"{r['real_win_sampled']:.0%} / {r['real_win_greedy']:.0%} | {masked} ({where}) |")
    text = ["# MARL libraries inside the learned env", "",
            "Each library trains a policy inside the shipped smax-3m learned env (decoded observations),",
            "which then plays 100 real smax-3m episodes (decentralized, each agent on its own observation",
            "and mask). Rebuilt by `python benchmarks/consumers.py` (one CPU thread each).", ""]
    text += rows
    if rand:
        text += ["", f"The uniformly random policy over available actions: real return {rand[0]:.2f}, "
                     f"win {rand[1]:.0%}."]
    return "\n".join(text) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", choices=sorted(RUNS), help="libraries to run (default: all)")
    p.add_argument("--report", action="store_true", help="only rebuild docs/consumers.md from the results")
    a = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if not a.report:
        for lib in a.only or RUNS:
            example, kwargs = RUNS[lib]
            r = _example(example).train(**kwargs)
            (OUT / f"{lib}.json").write_text(json.dumps(r, indent=2) + "\n")
            print(lib, json.dumps(r))
    DOC.write_text(report())
    print(DOC.read_text())


if __name__ == "__main__":
    main()
