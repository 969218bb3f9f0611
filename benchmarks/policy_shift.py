"""Does the policy act on the learned env's observations as it acts on real ones?

    python benchmarks/policy_shift.py runs/sample_efficiency/smax-2s3z/outcome-s0 [--episodes 200]

Reads a loop run's saved world model (``model/``), policy (``policy/``) and dataset (``data/``),
and prints, per step k of open-loop model rollouts from the last ``--episodes`` real episodes'
states (with the real actions; k = 0 is the start's reconstruction), the policy's mean
KL(pi(real obs) || pi(decoded obs)), the share of equal greedy actions and both entropies
(:func:`latentworld.model.fidelity.policy_shift`). ``--json`` writes the numbers to a file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import latentworld
from latentworld.algos import load_policy
from latentworld.data import EpisodeDataset, SequenceSampler
from latentworld.model.fidelity import default_horizon, policy_shift


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("--episodes", type=int, default=200, help="the run's last episodes to start from")
    p.add_argument("--starts", type=int, default=1024)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    ds = EpisodeDataset.open(a.run / "data")
    env_id = ds.spec.env_id
    model = latentworld.load_model(a.run / "model", env_id)[0]
    policy = load_policy(a.run / "policy")
    eps = np.arange(max(0, len(ds) - a.episodes), len(ds))
    sampler = SequenceSampler(ds, 1, episodes=eps.tolist())
    shift = policy_shift(model, policy, sampler, horizon=default_horizon(ds.spec.n_agents), max_starts=a.starts)
    print(f"{a.run}: {len(eps)} episodes of {env_id}")
    print("k  KL(real||decoded)  greedy agree  entropy real  entropy decoded  agents")
    for k, m in shift.items():
        print(f"{k:<3}{m['kl']:>12.3f}{m['greedy_agree']:>14.2f}{m['entropy_real']:>14.2f}"
              f"{m['entropy_decoded']:>16.2f}{m['agents']:>8}")
    if a.json:
        a.json.write_text(json.dumps({"run": str(a.run), "episodes": len(eps), "shift": shift}, indent=2))


if __name__ == "__main__":
    main()
