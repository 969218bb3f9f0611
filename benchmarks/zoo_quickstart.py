"""The quickstart on every shipped world model: MAPPO trained only inside it, then played in
the real env, against the random policy (3 seeds each). Writes
``benchmarks/results/zoo_quickstart.json`` and the README's quickstart table.

    python benchmarks/zoo_quickstart.py              # run what is missing, then report
    python benchmarks/zoo_quickstart.py --report     # only rebuild the table
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import latentworld
from latentworld.quickstart import QuickstartConfig, quickstart

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "zoo_quickstart.json"


def table(results: dict) -> str:
    lines = ["| shipped model | size | real steps it learned from | MAPPO in imagination, real win (seeds 0, 1, 2) "
             "| median | random policy | quickstart time (median) |", "|---|---|---|---|---|---|---|"]
    for m in latentworld.list_models():
        runs = [r for r in results.get(m["env_id"], {}).values() if r.get("model_digest") == _digest(m)]
        if not runs:
            continue
        wins = [r["win_rate"] for r in sorted(runs, key=lambda r: r["config"]["seed"])]
        real = "?" if m["real_env_steps"] is None else f"{m['real_env_steps']:,}"
        lines.append(f"| {m['env_id']} | {m['size_bytes'] / 2**20:.1f} MB | {real} | "
                     + ", ".join(f"{100 * w:.1f}%" for w in wins)
                     + f" | **{100 * np.median(wins):.1f}%** | {100 * np.median([r['random_win_rate'] for r in runs]):.1f}% "
                     f"| {np.median([r['seconds'] for r in runs]):.0f} s |")
    return "\n".join(lines)


def _digest(m: dict) -> str:
    return json.loads((Path(m["path"]) / "meta.json").read_text())["files"]["model"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--report", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not a.report:
        for m in latentworld.list_models():
            for seed in a.seeds:
                done = results.get(m["env_id"], {}).get(str(seed))
                if done and done.get("model_digest") == _digest(m):
                    continue  # measured on this very model already
                r = quickstart(QuickstartConfig(env_id=m["env_id"], seed=seed), progress=False)
                r["model_digest"] = _digest(m)
                results.setdefault(m["env_id"], {})[str(seed)] = r
                RESULTS.write_text(json.dumps(results, indent=2) + "\n")
                print(json.dumps({k: r[k] for k in ("env_id", "win_rate", "random_win_rate", "seconds")}), flush=True)
    t = table(results)
    print(t)
    readme = ROOT / "README.md"
    text = readme.read_text()
    begin, end = "<!-- zoo_quickstart (written by benchmarks/zoo_quickstart.py) -->\n", "<!-- /zoo_quickstart -->"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        readme.write_text(head + begin + t + "\n" + end + rest.split(end, 1)[1])


if __name__ == "__main__":
    main()
