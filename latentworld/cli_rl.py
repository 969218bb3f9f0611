"""The reinforcement-learning commands of ``latentworld``: quickstart, run, train-policy, evaluate."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from latentworld import jsonutil
from latentworld._io import writer_lock
from latentworld.algos.registry import ALGOS
from latentworld.config_flags import add_config_flags
from latentworld.loop_config import LoopConfig

ALGO_HELP = ("learner: mappo, value decomposition (qmix, vdn, qplex) or mean-field (mfq, mfac; for many "
             "agents); default mappo")


def _print(res: dict[str, Any], args: argparse.Namespace, lines: list[str]) -> None:
    print(jsonutil.dumps(res) if args.json else "\n".join(lines))


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
    from latentworld.config_flags import config_from_args
    from latentworld.loop import LoopConfig, run

    cfg = config_from_args(LoopConfig, args)
    r = run(cfg, args.out, progress=progress, tensorboard=not args.no_tensorboard)
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
    with writer_lock(args.out, "policy directory"):  # held from the start: a second writer stops at once
        hist = learner.learn(env, args.steps, progress=progress, log_dir=args.out if args.tensorboard else None)
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


def add_commands(sub: argparse._SubParsersAction, progress_flags, wrap) -> None:
    """Register the commands on the main parser's subparsers."""
    s = sub.add_parser("quickstart", help="train MAPPO inside the shipped world model, then play it for real")
    s.add_argument("env_id", nargs="?", default="smax-3m")
    s.add_argument("--imag-steps", type=int, default=60_000, help="imagined env steps of training")
    s.add_argument("--episodes", type=int, default=200, help="real episodes per evaluation")
    s.add_argument("--out", default=None, help="save the trained policy here")
    _common(s, progress_flags)
    s.set_defaults(func=wrap(_cmd_quickstart))

    s = sub.add_parser("run", help="the loop (model-free MAPPO plus imagination) or its --model-free baseline",
                       description="Every flag is a field of latentworld.loop.LoopConfig, with its default.")
    s.add_argument("env_id")
    add_config_flags(s, LoopConfig, skip=("env_id", "seed", "device"))
    s.add_argument("--out", required=True, help="run directory (resumed when it exists)")
    s.add_argument("--no-tensorboard", action="store_true",
                   help="no TensorBoard event files in --out (written by default when tensorboard is installed)")
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
    s.add_argument("--tensorboard", action="store_true", help="TensorBoard event files of training in --out")
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
