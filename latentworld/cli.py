"""The ``latentworld`` command: environments, datasets, world models, policies."""

from __future__ import annotations

import argparse
import sys

from latentworld import jsonutil
from latentworld._io import no_space
from latentworld._version import __version__
from latentworld.config_flags import add_config_flags


def _cmd_list(args: argparse.Namespace) -> int:
    from latentworld.registry import list_envs, list_models

    if args.models:
        models = list_models()
        if args.json:
            print(jsonutil.dumps(models))
        else:
            for m in models:
                real = "?" if m["real_env_steps"] is None else f"{m['real_env_steps']:,}"
                print(f"{m['env_id']:<14} {m['size_bytes'] / 2**20:5.1f} MB  {m['train_steps']:>6,} model steps  "
                      f"{real:>7} real steps  {m['source']}  {m['path']}")
        return 0
    ids = list_envs(args.family)
    if args.json:
        print(jsonutil.dumps(ids))
    else:
        print("\n".join(ids))
    return 0


def _cmd_collect(args: argparse.Namespace) -> int:
    from latentworld.data import collect

    if args.policy != "random":
        raise SystemExit(f"latentworld collect: unknown policy {args.policy!r}; available: random")
    if args.workers is None and args.ray_address is not None:
        raise ValueError("--ray-address needs --workers N (how many Ray workers to start there)")
    if args.workers is None:
        stats = collect(args.env_id, args.out, args.episodes, seed=args.seed, num_envs=args.num_envs,
                        progress=_show_progress(args))
    else:
        from latentworld.data.distributed import collect_distributed

        stats = collect_distributed(args.env_id, args.out, args.episodes, workers=args.workers, seed=args.seed,
                                    num_envs=args.num_envs, ray_address=args.ray_address,
                                    progress=_show_progress(args))
    if args.json:
        print(jsonutil.dumps(stats.to_dict()))
    else:
        win = "n/a" if stats.win_rate is None else f"{stats.win_rate:.1%}"
        print(f"{stats.episodes} episodes, {stats.steps} steps → {stats.path}\n"
              f"mean return {stats.mean_return:.3f}, win rate {win}, {stats.steps_per_s:.0f} env steps/s")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from latentworld.data import EpisodeDataset

    ds = EpisodeDataset.open(args.dir)
    info = {**ds.summary(), "spec": ds.spec.to_dict()}
    if args.json:
        print(jsonutil.dumps(info))
    else:
        for k, v in info.items():
            if k != "spec":
                print(f"{k:>20}: {v}")
        s = ds.spec
        print(f"{'spec':>20}: {s.n_agents} agents, obs {s.obs_dim}, state {s.state_dim}, "
              f"{s.n_actions} actions, limit {s.episode_limit}")
    return 0


def _cmd_train_model(args: argparse.Namespace) -> int:
    from latentworld.config_flags import config_from_args, given_args
    from latentworld.model import TrainConfig, WorldModelConfig, train_model

    cfg = config_from_args(TrainConfig, args)
    mcfg = WorldModelConfig.preset(args.size, **given_args(WorldModelConfig, args))
    res = train_model(args.data, args.out, env_id=args.env_id, model_config=mcfg, config=cfg,
                      progress=_show_progress(args), tensorboard=args.tensorboard)
    if args.json:
        print(jsonutil.dumps(res.to_dict()))
    else:
        print(f"trained {res.steps} steps in {res.seconds:.0f} s ({res.sequences_per_s:.1f} seq/s, "
              f"{res.agent_steps_per_s:.0f} agent-steps/s); held-out loss {res.eval_loss:.4f} → {res.path}")
    return 0


def _cmd_evaluate_model(args: argparse.Namespace) -> int:
    from latentworld.model import evaluate_checkpoint

    report = evaluate_checkpoint(args.model, args.data, env_id=args.env_id, device=args.device)
    if args.json:
        print(jsonutil.dumps(report))
        return 0
    f = report["fidelity"]
    print(f"H={f['horizon']} return skill (1 = exact, 0 = a constant): sampled {f['reward_skill']:.3f}, "
          f"mode {f['reward_skill_mode']:.3f}; win within H, Brier {f['win_brier']:.4f} "
          f"(base rate {f['win_brier_base']:.4f}); {f['starts']} starts")
    for k, m in report["horizons"].items():
        print(f"{k}  ({m['samples']} predictions)")
        for name in ("obs_mse", "reward_mae", "end_accuracy", "end_f1", "avail_accuracy", "avail_f1"):
            print(f"  {name:>15}: model {m[name]:.4f}   baseline {m[name + '_baseline']:.4f}")
        print(f"  {'reward var':>15}: model {m['reward_agent_variance']:.5f}   "
              f"data {m['reward_agent_variance_true']:.5f}")
    g, e, eb = report["gci"], report["gpe"], report["gpe_baseline"]
    print(f"GCI (mean over horizons; 0 = agents agree): {g['total']:.5f}  (reward {g['reward']:.5f}, "
          f"cont {g['cont']:.5f}, global {g['global']:.5f})")
    print(f"GPE (mean over horizons): model {e['total']:.4f}  baseline {eb['total']:.4f}  "
          f"(obs {e['obs']:.4f}/{eb['obs']:.4f}, reward {e['reward']:.4f}/{eb['reward']:.4f}, "
          f"cont {e['cont']:.4f}/{eb['cont']:.4f})")
    return 0


def _show_progress(args: argparse.Namespace) -> bool:
    return args.progress or (not args.no_progress and sys.stderr.isatty())


def _progress_flags(s: argparse.ArgumentParser) -> None:
    s.add_argument("--progress", action="store_true", help="show the progress bar even when not a terminal")
    s.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The ``latentworld`` argument parser with every command."""
    from latentworld.model import TrainConfig, WorldModelConfig

    p = argparse.ArgumentParser(prog="latentworld", description=__doc__)
    p.add_argument("--version", action="version", version=f"latentworld {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="list known environment ids, or with --models the default world models")
    s.add_argument("--family", help="only this family (smax, smac, smacv2, flatland, mpe, user)")
    s.add_argument("--models", action="store_true",
                   help="list the world models that latentworld.make(ENV_ID) loads without a model argument")
    s.add_argument("--json", action="store_true", help="print a JSON list")
    s.set_defaults(func=_cmd_list)

    s = sub.add_parser("collect", help="collect episodes from a real environment into a dataset")
    s.add_argument("env_id")
    s.add_argument("--episodes", type=int, required=True, help="number of episodes to collect")
    s.add_argument("--out", required=True, help="dataset directory (created, or appended to)")
    s.add_argument("--policy", default="random", help="behaviour policy (default: random)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--num-envs", type=int, default=1,
                   help="envs stepped together in one vmapped call (ids with a batched real env, SMAX's; try 64-256)")
    s.add_argument("--workers", type=int, default=None,
                   help="collect with this many Ray workers, one CPU each (needs the ray extra); "
                        "the same seed gives the same episodes for any number of workers")
    s.add_argument("--ray-address", default=None,
                   help="a running Ray cluster to put the workers on (default: a local one with --workers CPUs)")
    s.add_argument("--json", action="store_true", help="print a one-line JSON summary at the end")
    _progress_flags(s)
    s.set_defaults(func=_cmd_collect)

    s = sub.add_parser("info", help="summarise a dataset directory")
    s.add_argument("dir")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_info)

    s = sub.add_parser("train-model", help="train a world model on a dataset (resumes an existing --out)")
    s.add_argument("env_id")
    s.add_argument("--data", required=True, help="dataset directory written by `latentworld collect`")
    s.add_argument("--out", required=True, help="checkpoint directory")
    s.add_argument("--size", choices=["cpu", "large"], default="cpu",
                   help="model size preset: cpu (16x16 latents, 128 wide; default) or large (32x32, 256 wide); "
                        "the world-model flags below override it")
    train = s.add_argument_group("training: every field of latentworld.model.TrainConfig")
    add_config_flags(train, TrainConfig)
    model = s.add_argument_group("world model: every field of latentworld.model.WorldModelConfig "
                                 "(defaults: the cpu preset's)")
    add_config_flags(model, WorldModelConfig, only_given=True)
    s.add_argument("--tensorboard", action="store_true",
                   help="TensorBoard event files of the losses in --out (needs the tensorboard extra)")
    s.add_argument("--json", action="store_true", help="print a one-line JSON summary at the end")
    _progress_flags(s)
    s.set_defaults(func=_cmd_train_model)

    s = sub.add_parser("evaluate-model", help="model-quality report on held-out episodes")
    s.add_argument("env_id")
    s.add_argument("--model", required=True, help="checkpoint directory")
    s.add_argument("--data", required=True, help="dataset directory (its held-out episodes are used)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_evaluate_model)

    from latentworld.cli_rl import add_commands

    add_commands(sub, _progress_flags, lambda fn: lambda a: fn(a, _show_progress(a)))
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ``latentworld`` command with ``argv`` (default: sys.argv); returns the exit code (2 on errors)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, RuntimeError, ImportError, OSError, ArithmeticError) as e:
        full = no_space(e)
        if full is not None:  # the cause, whatever the write that met it raised on top
            where = f" writing {full.filename}" if full.filename else ""
            e = (f"no space left on device{where}; what was written before stays readable: free space "
                 f"(or choose another --out) and run the same command again to resume")
        print(f"latentworld {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
