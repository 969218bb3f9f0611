"""Policy-only probe on a fixed world model: is the model or the loop what limits the policy?

Takes a finished sample-efficiency run (its world model and its real data), trains a *fresh*
MAPPO policy inside that model the way the loop does (imagination from history-carrying
starts re-encoded from random real episodes, decoded observations), and plays it greedily
in the real env every ``--eval-every`` imagined steps. A fresh policy that beats the run's
own final policy on the same model points at the loop's dynamics; one that does not points
at the model.

    python benchmarks/fixed_model_probe.py runs/sample_efficiency/smax-3m/mabl-s0 \
        --imag-steps 200000 --entropy 0.001 --name s0-ent0.001

Results: benchmarks/results/fixed_model_probe/<name>.json (one row per evaluation). The fixed
models of the committed results were made by benchmarks/fixed_model_prep.py.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "fixed_model_probe"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a finished run directory (holds model/ and data/)")
    p.add_argument("--imag-steps", type=int, default=200_000, help="imagined env steps in all")
    p.add_argument("--eval-every", type=int, default=40_000, help="imagined steps between real tests")
    p.add_argument("--restart-every", type=int, default=4_500,
                   help="imagined steps between start re-encodings (the loop: ~4.5k per round on 3m)")
    p.add_argument("--entropy", type=float, default=0.001, help="MAPPO entropy bonus")
    p.add_argument("--lr", type=float, default=5e-4, help="MAPPO actor and critic learning rate")
    p.add_argument("--episodes", type=int, default=100, help="greedy real test episodes per evaluation")
    p.add_argument("--horizon", type=int, default=None, help="imagination horizon (default: the run's)")
    p.add_argument("--deterministic", action="store_true", help="imagine with the latents' modes, no sampling")
    p.add_argument("--policy-obs", choices=["decoded", "latent"], default="decoded",
                   help="what the policy reads (latent: the model encodes real obs at execution)")
    p.add_argument("--uncertainty-penalty", type=float, default=0.0,
                   help="imagined reward minus this times the model's uncertainty (needs an ensemble)")
    p.add_argument("--relative-penalty", type=float, default=0.0,
                   help="added to --uncertainty-penalty: this x (real reward per step) / (the model's uncertainty "
                        "about real steps), measured on the run's data as the loop does (LoopConfig.relative_penalty)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", required=True, help="result file name")
    a = p.parse_args()
    torch.set_num_threads(1)

    from latentworld import make_vec
    from latentworld.algos import MAPPO, MAPPOConfig
    from latentworld.metrics import evaluate
    from latentworld.model import (
        ModelTrainer,
        TrainConfig,
        WorldModelConfig,
        encode_history_starts,
        load_model,
    )

    run = Path(a.run)
    cfg = json.loads((run / "config.json").read_text())
    env_id = cfg["env_id"]
    tc = TrainConfig(batch_size=16, seq_len=20, seed=a.seed, start_bank=1024)
    mcfg = WorldModelConfig.from_dict(load_model(run / "model")[1]["config"])
    trainer = ModelTrainer(run / "data", run / "model", env_id=env_id, config=tc, model_config=mcfg)  # never saved
    model = trainer.model
    penalty = a.uncertainty_penalty
    if a.relative_penalty:
        from latentworld.model.uncertainty import real_data_scales

        scales = real_data_scales(model, trainer.train_s, cfg["start_episodes"], np.random.default_rng(a.seed))
        penalty += scales.penalty(a.relative_penalty)
        print(json.dumps({"reward_per_step": scales.reward_per_step, "uncertainty": scales.uncertainty,
                          "penalty": penalty}), flush=True)
    env = make_vec(env_id, model, cfg["imag_envs"], obs=a.policy_obs, horizon=a.horizon or cfg["horizon"],
                   deterministic=a.deterministic, seed=a.seed, uncertainty_penalty=penalty)
    encoder = model if a.policy_obs == "latent" else None
    learner = MAPPO(env.obs_dim, env.state_dim, env.n_agents, env.n_actions,
                    MAPPOConfig(seed=a.seed, entropy_coef=a.entropy, lr=a.lr, critic_lr=a.lr))
    rng = np.random.default_rng(a.seed)
    rows, done, t0 = [], 0, time.perf_counter()
    while done < a.imag_steps:
        env.set_starts(encode_history_starts(model, trainer.train_s, cfg["start_episodes"], rng))
        hist = learner.learn(env, a.restart_every, progress=False)
        done += a.restart_every
        if done // a.eval_every > (done - a.restart_every) // a.eval_every or done >= a.imag_steps:
            r = evaluate(learner, env_id, a.episodes, model=encoder, seed=a.seed + 777_777)
            rows.append({"imag_steps": done, "real_win_rate": r.win_rate, "real_return": r.mean_return,
                         "imagined_return": hist[-1].get("mean_return"), "entropy": hist[-1].get("entropy"),
                         "seconds": time.perf_counter() - t0})
            print(json.dumps(rows[-1]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"run": str(run.resolve().relative_to(ROOT)) if run.resolve().is_relative_to(ROOT) else str(run),
           "model_steps": trainer.step, "args": vars(a), "penalty": penalty, "rows": rows}
    (RESULTS / f"{a.name}.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
