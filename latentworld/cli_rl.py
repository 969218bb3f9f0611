"""The reinforcement-learning commands of ``latentworld``: quickstart, run, train-policy, evaluate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from latentworld.algo_names import ALGOS

ALGO_HELP = ("learner: mappo, value decomposition (qmix, vdn, qplex) or mean-field (mfq, mfac; for many "
             "agents); default mappo")


def _print(res: dict[str, Any], args: argparse.Namespace, lines: list[str]) -> None:
    print(json.dumps(res) if args.json else "\n".join(lines))


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _cmd_quickstart(args: argparse.Namespace, progress: bool) -> int:
    from latentworld.quickstart import QuickstartConfig, quickstart

    cfg = QuickstartConfig(env_id=args.env_id, imag_steps=args.imag_steps, eval_episodes=args.episodes,
                           seed=args.seed, device=args.device, out=args.out)
    r = quickstart(cfg, progress=progress)
    _print(r, args, [
        f"world model: {r['model']} (shipped with latentworld)",
        f"random policy in real {r['env_id']}:        win rate {_pct(r['random_win_rate'])}, "
        f"return {r['random_return']:.3f}",
        f"MAPPO trained only in imagination ({r['imagined_steps']:,} imagined steps, {r['train_seconds']:.0f} s):",
        f"  played in real {r['env_id']} (decentralized): win rate {_pct(r['win_rate'])}, "
        f"return {r['return']:.3f}  [{r['eval_episodes']} episodes]",
        f"total time {r['seconds']:.0f} s",
    ])
    return 0


def _cmd_run(args: argparse.Namespace, progress: bool) -> int:
    from latentworld.loop import LoopConfig, run

    cfg = LoopConfig(env_id=args.env_id, env_steps=args.env_steps, algo=args.algo, model_free=args.model_free,
                     seed=args.seed, single_level=args.single_level, device=args.device,
                     model_size=args.size, eval_episodes=args.eval_episodes,
                     collect_epsilon=args.collect_epsilon, model_seqs_per_step=args.model_ratio,
                     imag_per_step=args.imag_ratio, collect_episodes=args.collect_episodes,
                     test_every=args.test_every, test_episodes=args.test_episodes, policy_obs=args.policy_obs,
                     reward_global=not args.agent_reward, uncertainty_penalty=args.uncertainty_penalty,
                     relative_penalty=args.relative_penalty,
                     real_updates=args.real_updates, reward_scale=args.reward_scale,
                     reward_trend=args.reward_trend, obs_fusion=args.obs_fusion, workers=args.workers, dual_buffer=args.dual_buffer,
                     ray_address=args.ray_address)
    r = run(cfg, args.out, progress=progress)
    lines = [f"{r['env_steps']} real env steps in {r['seconds']:.0f} s: last win rate "
             f"{_pct(r['win_rate'])}, return {r['return']:.3f}; curve in {args.out}/curve.png"]
    if r.get("eval_episodes"):
        lines.append(f"final policy, {r['eval_episodes']} greedy test episodes: win rate "
                     f"{_pct(r['eval_win_rate'])}, return {r['eval_return']:.3f}")
    _print(r, args, lines)
    return 0


def _cmd_train_policy(args: argparse.Namespace, progress: bool) -> int:
    import latentworld
    from latentworld.loop import make_learner

    model = latentworld.load_model(args.model, args.env_id, args.device)
    env = latentworld.make_vec(args.env_id, model, args.num_envs, start="any", horizon=args.horizon,
                               device=args.device, seed=args.seed)
    learner = make_learner(args.algo, env.obs_dim, env.state_dim, env.n_agents, env.n_actions, args.device,
                           args.seed)
    hist = learner.learn(env, args.steps, progress=progress)
    learner.save(Path(args.out))
    last = hist[-1] if hist else {}
    res = {"out": args.out, "algo": args.algo, "imagined_steps": args.steps,
           "imagined_return": last.get("mean_return")}
    _print(res, args, [f"{args.algo} trained for {args.steps:,} imagined steps → {args.out}",
                       f"evaluate it: latentworld evaluate {args.env_id} --policy {args.out} --model {args.model}"])
    return 0


def _cmd_evaluate(args: argparse.Namespace, progress: bool) -> int:
    import latentworld
    from latentworld.algos import load_policy
    from latentworld.metrics import evaluate

    policy = "random" if args.policy == "random" else load_policy(args.policy, device=args.device)
    model = latentworld.load_model(args.model, args.env_id, args.device)[0] if args.model else None
    r = evaluate(policy, args.env_id, args.episodes, model=model, seed=args.seed, device=args.device).to_dict()
    _print(r, args, [f"{r['episodes']} real episodes of {r['env_id']}: win rate {_pct(r['win_rate'])}, "
                     f"return {r['mean_return']:.3f} ± {r['std_return']:.3f}, mean length {r['mean_length']:.1f}"])
    return 0


def add_commands(sub: argparse._SubParsersAction, progress_flags, wrap, gawm_flags) -> None:
    """Register the commands on the main parser's subparsers."""
    s = sub.add_parser("quickstart", help="train MAPPO inside the shipped world model, then play it for real")
    s.add_argument("env_id", nargs="?", default="smax-3m")
    s.add_argument("--imag-steps", type=int, default=60_000, help="imagined env steps of training")
    s.add_argument("--episodes", type=int, default=200, help="real episodes per evaluation")
    s.add_argument("--out", default=None, help="save the trained policy here")
    _common(s, progress_flags)
    s.set_defaults(func=wrap(_cmd_quickstart))

    s = sub.add_parser("run", help="the MABL loop (or --model-free): real collection, model, policy")
    s.add_argument("env_id")
    s.add_argument("--env-steps", type=int, default=50_000, help="real env-step budget")
    s.add_argument("--algo", choices=ALGOS, default="mappo", help=ALGO_HELP)
    s.add_argument("--model-free", action="store_true", help="baseline: train on the real env only")
    s.add_argument("--single-level", action="store_true", help="ablation: world model without its global level")
    s.add_argument("--size", choices=["cpu", "large"], default="cpu", help="world-model size")
    s.add_argument("--agent-reward", action="store_true",
                   help="ablation: the reward head reads each agent's own features only (the old default)")
    s.add_argument("--uncertainty-penalty", type=float, default=0.0,
                   help="imagined reward minus this times the model's uncertainty, in reward units (default 0)")
    s.add_argument("--relative-penalty", type=float, default=0.2,
                   help="the uncertainty penalty in units of the real data: this x (real reward per step) / "
                        "(the model's uncertainty about real steps), re-measured every round (0: off; default 0.2)")
    s.add_argument("--reward-scale", type=float, default=1.0,
                   help="weight of the world model's reward loss (default 1)")
    gawm_flags(s)
    s.add_argument("--collect-epsilon", type=float, default=None,
                   help="collect with greedy actions, each random with this probability (default: sample)")
    s.add_argument("--collect-episodes", type=int, default=32,
                   help="real episodes collected between two training rounds")
    s.add_argument("--real-updates", action=argparse.BooleanOptionalAction, default=False,
                   help="after each collection, a PPO update on the real episodes just collected (mappo)")
    s.add_argument("--model-ratio", type=float, default=4.0,
                   help="world-model training sequences per real env step")
    s.add_argument("--imag-ratio", type=float, default=8.0,
                   help="imagined env steps of policy training per real env step")
    s.add_argument("--policy-obs", choices=["decoded", "latent"], default="decoded",
                   help="what the policy reads: decoded observations (real ones when deployed) or latent features")
    s.add_argument("--dual-buffer", type=int, default=0, metavar="K",
                   help="GAWM's dual buffer (mappo): each policy update also trains on the last K imagined "
                        "rollouts (default 0)")
    s.add_argument("--workers", type=int, default=0,
                   help="collect the real episodes with this many Ray workers, one CPU each, playing the current "
                        "policy (needs the ray extra; default 0: in this process)")
    s.add_argument("--ray-address", default=None, help="a running Ray cluster for --workers (default: a local one)")
    s.add_argument("--test-every", type=int, default=5000,
                   help="greedy real test episodes every this many real steps (0: none)")
    s.add_argument("--test-episodes", type=int, default=32, help="real episodes per periodic test")
    s.add_argument("--eval-episodes", type=int, default=100,
                   help="greedy real test episodes of the final policy (not counted in the budget; 0 skips)")
    s.add_argument("--out", required=True, help="run directory (resumed when it exists)")
    _common(s, progress_flags)
    s.set_defaults(func=wrap(_cmd_run))

    s = sub.add_parser("train-policy", help="train a learner inside a world model (imagination only)")
    s.add_argument("env_id")
    s.add_argument("--model", required=True, help="world-model checkpoint directory")
    s.add_argument("--algo", choices=ALGOS, default="mappo", help=ALGO_HELP)
    s.add_argument("--steps", type=int, default=300_000, help="imagined env steps")
    s.add_argument("--num-envs", type=int, default=256, help="learned envs stepped together")
    s.add_argument("--horizon", type=int, default=15, help="imagination horizon")
    s.add_argument("--out", required=True, help="policy directory")
    _common(s, progress_flags)
    s.set_defaults(func=wrap(_cmd_train_policy))

    s = sub.add_parser("evaluate", help="play a policy in the real env (decentralized execution)")
    s.add_argument("env_id")
    s.add_argument("--policy", required=True, help="policy directory, or 'random'")
    s.add_argument("--model", default=None, help="the world model a latent policy was trained in")
    s.add_argument("--episodes", type=int, default=100)
    _common(s, progress_flags)
    s.set_defaults(func=wrap(_cmd_evaluate))


def _common(s: argparse.ArgumentParser, progress_flags) -> None:
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    s.add_argument("--json", action="store_true", help="print one JSON line")
    progress_flags(s)
