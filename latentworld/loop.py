"""The MABL training loop (Algorithm 1 of arXiv 2304.06011) and its model-free baseline.

The schedule follows the model-based learners that are sample efficient (MAMBA, MARIE):
training is interleaved finely with collection, and nothing is thrown away between rounds.

1. Warm-up: random real episodes, then a first world model on them.
2. Each iteration: collect ``collect_episodes`` real episodes with the current policy
   (decentralized execution: each agent encodes only its own observations) → the same
   world model trains on all data for ``model_seqs_per_step`` sequences per new real step →
   the imagination start bank is re-encoded from random real episodes, each state with its
   whole real history → the same policy trains inside the learned env for
   ``imag_per_step`` imagined env steps per new real step.
3. Every ``test_every`` real steps, greedy test episodes outside the budget.

Every iteration appends a row to the learning curve (``curve.jsonl`` and ``curve.csv``;
``curve.png`` is redrawn at each test), with its wall seconds per phase (``seconds_model``,
``seconds_imagine``, ``seconds_collect``, ``seconds_test``); model and policy are saved at each test, and a run
resumes from its directory (from its last save: steps collected after it stay in the data).

``model_free=True`` trains the same learner on the real env only (the baseline), logging
the same curve: the win rate and return of the training episodes against real env steps,
and the same greedy tests.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from latentworld.algo_names import ALGOS
from latentworld.data import CollectStats, EpisodeDataset, collect
from latentworld.execution import DeployedPolicy, ShippedPolicy
from latentworld.loop_config import LoopConfig, model_config
from latentworld.model import load_model


def make_learner(algo: str, obs_dim: int, state_dim: int, n_agents: int, n_actions: int,
                 device: str = "cpu", seed: int = 0, entropy_coef: float | None = None, dual_buffer: int = 0) -> Any:
    """A fresh learner of the bundled algorithms (``seed`` seeds its weights, sampling and env
    resets; ``entropy_coef``, when given, is MAPPO's entropy bonus; ``dual_buffer`` MAPPO's)."""
    from latentworld.algos import MAPPO, MFAC, MFQ, MAPPOConfig, MFConfig, QLearner, QMixConfig

    if algo == "mappo":
        kw = {} if entropy_coef is None else {"entropy_coef": entropy_coef}
        mcfg = MAPPOConfig(seed=seed, dual_buffer=dual_buffer, **kw)
        return MAPPO(obs_dim, state_dim, n_agents, n_actions, mcfg, device=device)
    if algo in ("mfq", "mfac"):
        return (MFQ if algo == "mfq" else MFAC)(obs_dim, state_dim, n_agents, n_actions, MFConfig(seed=seed),
                                                device=device)
    if algo not in ALGOS:
        raise ValueError(f"unknown algo {algo!r}; choose one of {ALGOS}")
    return QLearner(obs_dim, state_dim, n_agents, n_actions, QMixConfig(mixer=algo, seed=seed), device=device)


class Curve:
    """The learning curve on disk: one JSON line per iteration, mirrored to CSV and PNG."""

    def __init__(self, out: Path):
        self.out = out
        self.path = out / "curve.jsonl"
        self.rows: list[dict[str, Any]] = []
        if self.path.exists():
            self.rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def add(self, row: dict[str, Any], plot: bool = True) -> None:
        self.rows.append(row)
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        with open(self.out / "curve.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)
        if plot:
            plot_curves({self.out.name: self.rows}, self.out / "curve.png")


def plot_curves(curves: dict[str, list[dict[str, Any]]], path: Path, title: str = "") -> None:
    """Win rate (or return) against real env steps, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    key = "win_rate" if any(r.get("win_rate") is not None for rs in curves.values() for r in rs) else "return"
    colours: dict[str, str] = {}  # "mabl s1" -> variant "mabl", seed 1: a colour per variant, a line style per seed
    for name, rows in curves.items():
        m = re.fullmatch(r"(.*) s(\d+)", name)
        group, seed = (m[1], int(m[2])) if m else (name, 0)
        colour = colours.setdefault(group, f"C{len(colours) % 10}")
        xs = [r["env_steps"] for r in rows if r.get(key) is not None]
        ys = [r[key] for r in rows if r.get(key) is not None]
        ax.plot(xs, ys, marker="o", ms=2.5, lw=1.2, color=colour, ls=("-", "--", ":", "-.")[seed % 4],
                label=name)
    ax.set_xlabel("real env steps")
    ax.set_ylabel("win rate" if key == "win_rate" else "team return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# LoopConfig fields added after runs were first stored, with the value those runs ran with: a run
# whose config.json lacks one resumes only if the field still has that value.
_ADDED = {"relative_penalty": 0.0}


def run(cfg: LoopConfig, out: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) a MABL or model-free run in ``out``; returns the final summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.json"
    done = out / "summary.json"
    if cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        new = asdict(cfg)
        diff = sorted({k for k in old if old.get(k) != new.get(k) and k not in ("workers", "ray_address")}
                      | {k for k, was in _ADDED.items() if k not in old and new[k] != was})
        if diff == ["env_steps"] and cfg.env_steps > old["env_steps"]:
            done.unlink(missing_ok=True)  # a larger budget extends the run
        elif diff:
            raise ValueError(f"{out} holds a run with other settings ({', '.join(diff)}); use another --out, "
                             f"the same settings to resume, or a larger --env-steps to extend it")
    cfg_path.write_text(json.dumps(asdict(cfg), indent=2))
    if done.exists():  # finished earlier: nothing to resume
        return json.loads(done.read_text())
    torch.manual_seed(cfg.seed)
    with _ray_session(cfg):
        summary = _run_model_free(cfg, out, progress) if cfg.model_free else _run_mabl(cfg, out, progress)
    if cfg.eval_episodes > 0:
        summary.update(_final_eval(cfg, out))
    done.write_text(json.dumps(summary, indent=2))
    return summary


def _policy_path(out: Path) -> Path:
    return out / "policy"


def _run_mabl(cfg: LoopConfig, out: Path, progress: bool) -> dict[str, Any]:
    from latentworld import make_vec
    from latentworld.algos import load_policy
    from latentworld.model import ModelTrainer, TrainConfig, encode_history_starts
    from latentworld.model.uncertainty import real_data_scales

    data, ckpt = out / "data", out / "model"
    curve = Curve(out)
    t_start = time.perf_counter() - (curve.rows[-1]["seconds"] if curve.rows else 0.0)
    if not curve.rows:  # warm-up: random play (a crash here restarts it on resume)
        stats = _collect(cfg, data, cfg.warmup_episodes, None, seed=cfg.seed, progress=progress)
        curve.add({"iteration": 0, "env_steps": stats.steps, "win_rate": stats.win_rate,
                   "return": stats.mean_return, "episodes": stats.episodes,
                   "seconds": time.perf_counter() - t_start})
    steps, episodes = _dataset_size(data)
    tc = TrainConfig(batch_size=16, seq_len=20, seed=cfg.seed, device=cfg.device, start_bank=1024)
    trainer = ModelTrainer(data, ckpt, env_id=cfg.env_id, model_config=model_config(cfg), config=tc)
    if trainer.step == 0:
        trainer.train(cfg.model_steps_first, progress=progress)
        trainer.evaluate()
        trainer.save()
    model = trainer.model
    env = make_vec(cfg.env_id, model, cfg.imag_envs, obs=cfg.policy_obs, horizon=cfg.horizon, device=cfg.device,
                   seed=cfg.seed, uncertainty_penalty=cfg.uncertainty_penalty)
    encoder = model if cfg.policy_obs == "latent" else None  # what stands between real obs and the policy
    learner = load_policy(_policy_path(out), device=cfg.device) if _policy_path(out).exists() else make_learner(
        cfg.algo, env.obs_dim, env.state_dim, env.n_agents, env.n_actions, cfg.device, cfg.seed, cfg.entropy_coef,
        cfg.dual_buffer)
    rng = np.random.default_rng([cfg.seed, len(curve.rows)])
    new_steps = steps - (curve.rows[-1]["env_steps"] if len(curve.rows) > 1 else 0)  # not yet trained on
    last_test = max([r["env_steps"] for r in curve.rows if "test_win_rate" in r], default=0)
    bar = tqdm(total=cfg.env_steps, initial=min(steps, cfg.env_steps), unit="step",
               desc=f"MABL {cfg.env_id} ({cfg.algo})", disable=not progress)
    while True:
        # ---- train: model, then policy inside it, in proportion to the new real steps
        model_steps = int(round(cfg.model_seqs_per_step * new_steps / tc.batch_size))
        clock = _Clock()
        with clock("model"):
            trainer.train(model_steps)
        with clock("imagine"):  # the start bank, the penalty's scale, and the policy's updates
            env.set_starts(encode_history_starts(model, trainer.train_s, cfg.start_episodes, rng, cfg.device))
            penalty = cfg.uncertainty_penalty
            if cfg.relative_penalty:  # in units of this round's model on real data (model/uncertainty.py)
                penalty += real_data_scales(model, trainer.train_s, cfg.start_episodes, rng,
                                            cfg.device).penalty(cfg.relative_penalty)
                env.set_uncertainty_penalty(penalty)
            hist = learner.learn(env, max(int(cfg.imag_per_step * new_steps), 1), progress=False)
        if steps >= cfg.env_steps:
            break
        # ---- collect
        eps = cfg.collect_epsilon
        if cfg.workers:  # the round's weights, stored once in Ray's object store for every worker
            policy = ShippedPolicy(learner, deterministic=eps is not None, epsilon=eps or 0.0)
        else:
            policy = DeployedPolicy(learner, encoder, deterministic=eps is not None, epsilon=eps or 0.0,
                                    seed=cfg.seed + len(curve.rows), device=cfg.device)
        with clock("collect"):
            stats = _collect_iteration(cfg, data, policy, steps, episodes, seed=cfg.seed + 1000 * len(curve.rows))
        steps, episodes, new_steps = steps + stats.steps, episodes + stats.episodes, stats.steps
        trainer.refresh()
        real = _real_update(learner, model, data, episodes - stats.episodes, stats.episodes, cfg) \
            if cfg.real_updates else {}
        row = {"iteration": len(curve.rows), "env_steps": steps, "win_rate": stats.win_rate,
               "return": stats.mean_return, "episodes": stats.episodes, "model_loss": trainer.train_loss,
               "model_steps": trainer.step, "imagined_return": _last(hist, "mean_return"),
               "entropy": _last(hist, "entropy"), "penalty": penalty, **real}
        tested = cfg.test_every > 0 and steps // cfg.test_every > last_test // cfg.test_every
        if tested:  # greedy test of the policy that just collected, then a save to resume from
            with clock("test"):
                row.update(_test(cfg, learner, encoder, steps))
                row["model_eval_loss"] = trainer.evaluate().get("loss")
                trainer.save()
                learner.save(_policy_path(out))
            last_test = steps
        row.update(clock.row())
        row["seconds"] = time.perf_counter() - t_start
        curve.add(row, plot=tested)
        bar.update(stats.steps)
        bar.set_postfix(win=row["win_rate"], ret=f"{row['return']:.2f}")
    bar.close()
    trainer.evaluate()
    trainer.save()
    learner.save(_policy_path(out))
    last = curve.rows[-1]
    return {"env_steps": steps, "win_rate": last["win_rate"], "return": last["return"],
            "model_eval_loss": trainer.eval_loss, "model_steps": trainer.step,
            "seconds": time.perf_counter() - t_start, "out": str(out)}


class _Clock:
    """Wall seconds per phase of one iteration, logged as ``seconds_<phase>`` in the curve rows."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.spent[phase] = self.spent.get(phase, 0.0) + time.perf_counter() - t0

    def row(self) -> dict[str, float]:
        return {f"seconds_{k}": round(v, 3) for k, v in self.spent.items()}


def _real_update(learner: Any, model: Any, data: Path, first: int, count: int, cfg: LoopConfig
                 ) -> dict[str, float]:
    """MAPPO's update on the ``count`` real episodes from dataset index ``first`` on, which the
    current policy has just played; the critic's state is the model's posterior global
    features (what it reads in imagination)."""
    from latentworld.data import SequenceSampler
    from latentworld.model.world_model import batch_to_torch

    sampler = SequenceSampler(EpisodeDataset.open(data), 1, episodes=list(range(first, first + count)))
    rows = int(sampler.lengths.max())
    b = batch_to_torch(sampler.gather(np.arange(len(sampler)), np.zeros(len(sampler), int), seq_len=rows),
                       cfg.device)  # [B, R, ...] whole episodes from row 0
    with torch.no_grad():
        states, _ = model.observe(b)  # [B, R, N, ...]
    obs = states.agent_features() if cfg.policy_obs == "latent" else b["obs"]  # [B, R, N, F]
    stats = learner.learn_episodes(obs, states.global_features().flatten(-2), b["action_mask"], b["alive"],
                                   b["actions"], b["rewards"].mean(-1), b["has_action"] & b["valid"],
                                   b["terminated"].any(1))
    return {f"real_{k}": v for k, v in stats.items() if k in ("policy_loss", "value_loss", "approx_kl")}


def _test(cfg: LoopConfig, learner: Any, model: Any, steps: int) -> dict[str, Any]:
    """Greedy real test episodes (decentralized, not counted in the budget)."""
    from latentworld.metrics import evaluate

    r = evaluate(learner, cfg.env_id, cfg.test_episodes, model=model, seed=cfg.seed + 555_555 + steps,
                 device=cfg.device)
    return {"test_win_rate": r.win_rate, "test_return": r.mean_return}


def _collect(cfg: LoopConfig, data: Path, n_eps: int, policy: Any, seed: int, progress: bool) -> CollectStats:
    """``n_eps`` real episodes into ``data``: here, or by ``cfg.workers`` Ray workers (``policy``
    is then a :class:`ShippedPolicy`; None is the random policy either way)."""
    if not cfg.workers:
        return collect(cfg.env_id, data, n_eps, policy=policy, seed=seed, num_envs=min(_real_envs(cfg), n_eps),
                       progress=progress)
    from latentworld.data.distributed import collect_distributed

    return collect_distributed(cfg.env_id, data, n_eps, workers=cfg.workers, seed=seed,
                               num_envs=min(_real_envs(cfg), -(-n_eps // cfg.workers)), policy=policy,
                               progress=progress)


@contextlib.contextmanager
def _ray_session(cfg: LoopConfig):
    """One Ray session for a whole run with workers (its workers, and their compiled envs, are
    reused by every round); nothing happens, and Ray is not imported, without workers."""
    if not cfg.workers:
        yield
        return
    try:
        import ray
    except ImportError as e:
        raise ImportError("run with workers needs Ray: pip install 'latentworld[ray]'") from e
    started = not ray.is_initialized()
    if started:
        kw = {"address": cfg.ray_address} if cfg.ray_address else {"num_cpus": cfg.workers}
        ray.init(include_dashboard=False, log_to_driver=False, **kw)
    try:
        yield
    finally:
        if started:
            from latentworld.data.distributed import release_workers

            release_workers()
            ray.shutdown()


def _collect_iteration(cfg: LoopConfig, data: Path, policy: DeployedPolicy, steps: int, episodes: int,
                       seed: int) -> CollectStats:
    """One iteration's real episodes: ``collect_episodes``, or, near the end of the budget,
    episodes until it is spent (topped up with the same policy, so the run never ends with
    extra iterations of a handful of episodes, each costing a full model and policy update)."""
    mean_len = steps / max(episodes, 1)
    n_eps = int(max(1, min(cfg.collect_episodes, np.ceil((cfg.env_steps - steps) / mean_len))))
    parts = []
    while True:
        part = _collect(cfg, data, n_eps, policy, seed=seed + len(parts), progress=False)
        parts.append(part)
        got = sum(p.steps for p in parts)
        if n_eps == cfg.collect_episodes or steps + got >= cfg.env_steps:
            break
        n_eps = int(max(1, np.ceil((cfg.env_steps - steps - got) / mean_len)))
    if len(parts) == 1:
        return parts[0]
    eps = [p.episodes for p in parts]
    wins = [p.win_rate for p in parts]
    return CollectStats(
        episodes=sum(eps), steps=got,
        mean_return=float(np.average([p.mean_return for p in parts], weights=eps)),
        win_rate=None if None in wins else float(np.average(wins, weights=eps)),
        steps_per_s=float(np.mean([p.steps_per_s for p in parts])), path=parts[-1].path)


def _run_model_free(cfg: LoopConfig, out: Path, progress: bool) -> dict[str, Any]:
    from latentworld.algos import load_policy
    from latentworld.env.real_vector import RealVectorEnv

    curve = Curve(out)
    done = curve.rows[-1]["env_steps"] if curve.rows else 0
    t_start = time.perf_counter() - (curve.rows[-1]["seconds"] if curve.rows else 0.0)
    env = RealVectorEnv(cfg.env_id, _real_envs(cfg), seed=cfg.seed + done, device=cfg.device)
    learner = load_policy(_policy_path(out)) if _policy_path(out).exists() else make_learner(
        cfg.algo, env.obs_dim, env.state_dim, env.n_agents, env.n_actions, cfg.device, cfg.seed)
    chunk = max(cfg.env_steps // 25, 1000)
    if cfg.test_every:
        chunk = min(chunk, cfg.test_every)
    last_test = max([r["env_steps"] for r in curve.rows if "test_win_rate" in r], default=0)
    bar = tqdm(total=cfg.env_steps, initial=done, unit="step", desc=f"model-free {cfg.env_id} ({cfg.algo})",
               disable=not progress)
    while done < cfg.env_steps:
        before = learner.env_steps
        hist = learner.learn(env, min(chunk, cfg.env_steps - done), progress=False)
        learner.save(_policy_path(out))
        steps = learner.env_steps - before  # what it really took: MAPPO steps whole rollouts (E x T)
        done += steps
        row = {"iteration": len(curve.rows) + 1, "env_steps": done, "win_rate": _last(hist, "win_rate"),
               "return": _last(hist, "mean_return")}
        if cfg.test_every and done // cfg.test_every > last_test // cfg.test_every:
            row.update(_test(cfg, learner, None, done))
            last_test = done
        row["seconds"] = time.perf_counter() - t_start
        curve.add(row)
        bar.update(steps)
        bar.set_postfix(win=row["win_rate"], ret=row["return"])
    bar.close()
    last = curve.rows[-1]
    return {"env_steps": done, "win_rate": last["win_rate"], "return": last["return"],
            "seconds": time.perf_counter() - t_start, "out": str(out)}


def _final_eval(cfg: LoopConfig, out: Path) -> dict[str, Any]:
    """Greedy real-env test episodes of the final policy (decentralized execution)."""
    from latentworld.algos import load_policy
    from latentworld.metrics import evaluate

    learner = load_policy(_policy_path(out), device=cfg.device)
    latent = not cfg.model_free and cfg.policy_obs == "latent"
    model = load_model(out / "model", cfg.env_id, cfg.device)[0] if latent else None
    r = evaluate(learner, cfg.env_id, cfg.eval_episodes, model=model, seed=cfg.seed + 777_777,
                 device=cfg.device)
    return {"eval_episodes": r.episodes, "eval_win_rate": r.win_rate, "eval_return": r.mean_return}


def _real_envs(cfg: LoopConfig) -> int:
    return cfg.real_envs if cfg.env_id.startswith("smax-") else 1


def _dataset_size(data: Path) -> tuple[int, int]:
    """(env steps, episodes) in the dataset, from the episode files' row counts."""
    ds = EpisodeDataset.open(data)
    lengths = [ds[i].steps for i in range(len(ds))]
    return int(sum(lengths)), len(lengths)


def _last(hist: list[dict[str, Any]], key: str) -> float | None:
    vals = [h[key] for h in hist if h.get(key) is not None and np.isfinite(h[key])]
    return float(vals[-1]) if vals else None


__all__ = ["ALGOS", "Curve", "LoopConfig", "make_learner", "model_config", "plot_curves", "run"]
