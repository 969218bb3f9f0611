"""The ``latentworld`` command: list environments, collect datasets, inspect them."""

from __future__ import annotations

import argparse
import json
import sys

from latentworld._version import __version__


def _cmd_list(args: argparse.Namespace) -> int:
    from latentworld.registry import list_envs

    ids = list_envs(args.family)
    if args.json:
        print(json.dumps(ids))
    else:
        print("\n".join(ids))
    return 0


def _cmd_collect(args: argparse.Namespace) -> int:
    from latentworld.data import collect

    if args.policy != "random":
        raise SystemExit(f"latentworld collect: unknown policy {args.policy!r}; available: random")
    stats = collect(
        args.env_id, args.out, args.episodes, seed=args.seed, num_envs=args.num_envs,
        progress=not args.no_progress and sys.stderr.isatty() or args.progress,
    )
    if args.json:
        print(json.dumps(stats.to_dict()))
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
        print(json.dumps(info))
    else:
        for k, v in info.items():
            if k != "spec":
                print(f"{k:>20}: {v}")
        s = ds.spec
        print(f"{'spec':>20}: {s.n_agents} agents, obs {s.obs_dim}, state {s.state_dim}, "
              f"{s.n_actions} actions, limit {s.episode_limit}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="latentworld", description=__doc__)
    p.add_argument("--version", action="version", version=f"latentworld {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="list known environment ids")
    s.add_argument("--family", help="only this family (smax, smac, smacv2, flatland, mpe, user)")
    s.add_argument("--json", action="store_true", help="print a JSON list")
    s.set_defaults(func=_cmd_list)

    s = sub.add_parser("collect", help="collect episodes from a real environment into a dataset")
    s.add_argument("env_id")
    s.add_argument("--episodes", type=int, required=True, help="number of episodes to collect")
    s.add_argument("--out", required=True, help="dataset directory (created, or appended to)")
    s.add_argument("--policy", default="random", help="behaviour policy (default: random)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--num-envs", type=int, default=1,
                   help="envs stepped together in one vmapped call (smax-* only; try 64-256)")
    s.add_argument("--json", action="store_true", help="print a one-line JSON summary at the end")
    s.add_argument("--progress", action="store_true", help="show the progress bar even when not a terminal")
    s.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    s.set_defaults(func=_cmd_collect)

    s = sub.add_parser("info", help="summarise a dataset directory")
    s.add_argument("dir")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, RuntimeError, ImportError, OSError) as e:
        print(f"latentworld {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
