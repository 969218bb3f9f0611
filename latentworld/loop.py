"""The loop: model-free learning on the real env, plus imagined learning that can only add.

Each round (one iteration of the learner on the real vector env: 64 envs x 32 steps for
MAPPO, the model-free baseline's own iteration):

1. the learner trains on its real rollout, exactly as ``model_free=True`` does; the episodes
   that finish are appended to the run's dataset;
2. the world model is scored on those fresh episodes before it trains on them (its reward
   skill over the imagination horizon, :mod:`latentworld.model.trust`), then trains on the
   data (``model_seqs_per_step`` sequences per new real step, recent episodes drawn more
   often);
3. the same learner trains inside the learned env for up to ``imag_ratio`` iterations, scaled
   by that trust score, on rollouts branched from the posterior states (with their history)
   of the fresh episodes; each rollout is cut where the ensemble's doubt leaves the range it
   has on real steps, and the learner bootstraps from its critic there.

The actor reads observations (real ones in the real env, the model's decoded ones in
imagination) and the critic every agent's observations, in both worlds alike. With
``imag_ratio=0`` or ``model_free`` a run is the model-free baseline, so whatever the model
changes is measured against it.

Every round appends a row to the learning curve (``curve.jsonl`` and ``curve.csv``;
``curve.png`` is redrawn at each test) with its wall seconds per phase (``seconds_real``,
``seconds_model``, ``seconds_imagine``, ``seconds_test``); the model and the policy are saved
at each test, and a run resumes from its last save.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from latentworld import jsonutil
from latentworld._io import atomic_write_bytes, writer_lock
from latentworld.algos.registry import ALGOS
from latentworld.curves import Curve, plot_curves
from latentworld.loop_config import LoopConfig, model_config


def make_learner(algo: str, obs_dim: int, state_dim: int, n_agents: int, n_actions: int,
                 device: str = "cpu", seed: int = 0, entropy_coef: float | None = None, dual_buffer: int = 0) -> Any:
    """A fresh learner of the bundled algorithms (``seed`` seeds its weights, sampling and env
    resets; ``entropy_coef``, when given, is MAPPO's entropy bonus; ``dual_buffer`` MAPPO's).
    MAPPO's critic reads the agents' observations only (``critic_state=False``): the loop
    serves them as the state, the same kind of input in the real and the learned env."""
    from latentworld.algos.registry import make_learner as registry_make

    kw: dict[str, Any] = {}
    if algo == "mappo":
        kw = {"dual_buffer": dual_buffer, "critic_state": False}
        if entropy_coef is not None:
            kw["entropy_coef"] = entropy_coef
    return registry_make(algo, obs_dim, state_dim, n_agents, n_actions, device=device, seed=seed, **kw)


def run(cfg: LoopConfig, out: str | Path, *, progress: bool = True, tensorboard: bool = True) -> dict[str, Any]:
    """Run (or resume) a loop or model-free run in ``out``; returns the final summary. One process
    at a time writes a run directory (a second is refused at once, :class:`DirectoryBusy`).
    ``tensorboard``: the curve's columns also go to TensorBoard event files in ``out`` (off, with
    one message, when the tensorboard extra is not installed)."""
    with writer_lock(out, "run directory"):
        return _run_locked(cfg, Path(out), progress, tensorboard)


def _run_locked(cfg: LoopConfig, out: Path, progress: bool, tensorboard: bool) -> dict[str, Any]:
    cfg_path = out / "config.json"
    done = out / "summary.json"
    if cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        new = asdict(cfg)
        defaults = asdict(LoopConfig())  # a field added since the run began: its default is what it ran with
        diff = sorted({k for k in old.keys() | new.keys() if old.get(k, defaults.get(k)) != new.get(k)})
        if diff == ["env_steps"] and cfg.env_steps > old["env_steps"]:
            done.unlink(missing_ok=True)  # a larger budget extends the run
        elif diff:
            raise ValueError(f"{out} holds a run with other settings ({', '.join(diff)}); use another --out, "
                             f"the same settings to resume, or a larger --env-steps to extend it")
    atomic_write_bytes(cfg_path, jsonutil.dumps(asdict(cfg), indent=2).encode())
    if done.exists():  # finished earlier: nothing to resume
        return json.loads(done.read_text())
    torch.manual_seed(cfg.seed)
    summary = _run(cfg, out, progress, tensorboard)
    if cfg.eval_episodes > 0:
        summary.update(_final_eval(cfg, out))
    atomic_write_bytes(done, jsonutil.dumps(summary, indent=2).encode())
    return summary


def _policy_path(out: Path) -> Path:
    return out / "policy"


def _run(cfg: LoopConfig, out: Path, progress: bool, tensorboard: bool) -> dict[str, Any]:
    """Rounds of real learning (recorded), world-model training and imagined learning."""
    imagination = None if cfg.model_free or cfg.oracle else _Imagination(cfg, out)
    curve = Curve(out, tensorboard=tensorboard)
    try:
        return _rounds(cfg, out, imagination, curve, progress)
    finally:  # the dataset's writer lock goes with the run, also when it fails
        curve.close()
        if imagination is not None and imagination.dataset is not None:
            imagination.dataset.close()


def _rounds(cfg: LoopConfig, out: Path, imagination: _Imagination | None, curve: Curve,
            progress: bool) -> dict[str, Any]:
    from latentworld.algos import load_policy
    from latentworld.env.real_vector import RealVectorEnv
    from latentworld.env.recording import ObsStateVecEnv, RecordingVecEnv

    done = curve.rows[-1]["env_steps"] if curve.rows else 0
    t_start = time.perf_counter() - (curve.rows[-1]["seconds"] if curve.rows else 0.0)
    # A resumed run restarts the real envs where it stopped, with a seed of its own (its
    # episodes in flight were not saved).
    real = RealVectorEnv(cfg.env_id, _real_envs(cfg), seed=cfg.seed + done, device=cfg.device)
    if imagination is not None:
        imagination.open(real.spec)
        real = RecordingVecEnv(real, imagination.dataset, real.spec)
    env = ObsStateVecEnv(real)
    saved = (_policy_path(out) / "policy.json").exists()  # a first save that failed leaves no policy.json
    learner = load_policy(_policy_path(out), device=cfg.device) if saved else make_learner(
        cfg.algo, env.obs_dim, env.state_dim, env.n_agents, env.n_actions, cfg.device, cfg.seed, cfg.entropy_coef,
        cfg.dual_buffer)
    last_test = max([r["env_steps"] for r in curve.rows if "test_win_rate" in r], default=0)
    label = "model-free" if cfg.model_free else "loop"
    bar = tqdm(total=cfg.env_steps, initial=done, unit="step", desc=f"{label} {cfg.env_id} ({cfg.algo})",
               disable=not progress)
    oracle = _Oracle(cfg, real, done) if cfg.oracle else None
    first = True  # the first round (re)starts the real envs
    while done < cfg.env_steps:
        clock = _Clock()
        before = learner.env_steps
        with clock("real"):  # one iteration of the model-free learner on the real env
            hist = learner.learn(env, 1, progress=False, seed=cfg.seed + done if first else None)
        first = False
        steps = learner.env_steps - before  # whole rollouts: E x T real steps for MAPPO
        done += steps
        row = {"iteration": len(curve.rows) + 1, "env_steps": done, "win_rate": _last(hist, "win_rate"),
               "return": _last(hist, "mean_return"), "entropy": _last(hist, "entropy")}
        if imagination is not None:
            row.update(imagination.round(learner, real.take_new(), len(curve.rows), clock))
        if oracle is not None:
            row.update(oracle.round(learner, len(curve.rows), clock))
        tested = cfg.test_every > 0 and done // cfg.test_every > last_test // cfg.test_every
        if tested or done >= cfg.env_steps:  # a greedy test, then a save to resume from
            with clock("test"):
                if tested:
                    row.update(_test(cfg, learner, done))
                    last_test = done
                learner.save(_policy_path(out))
                if imagination is not None:
                    row.update(imagination.save())
        row.update(clock.row())
        row["seconds"] = time.perf_counter() - t_start
        curve.add(row, plot=tested)
        bar.update(steps)
        bar.set_postfix(win=row["win_rate"], ret=row["return"])
    bar.close()
    last = curve.rows[-1]
    summary = {"env_steps": done, "win_rate": last["win_rate"], "return": last["return"],
               "seconds": time.perf_counter() - t_start, "out": str(out)}
    if imagination is not None:
        summary.update(imagination.summary())
    return summary


class _Imagination:
    """The world-model half of a round: score the model on the fresh real episodes, train it,
    then train the learner inside it from those episodes' states, as far as it is trusted."""

    def __init__(self, cfg: LoopConfig, out: Path):
        self.cfg, self.out = cfg, out
        self.dataset: Any = None
        self.horizon = cfg.horizon
        self.trainer = None  # built once model_start real steps are on disk
        self.env = None  # the learned vector env, built with the first model
        self.credit = 0.0  # imagined iterations owed (fractions carry over to the next round)
        self.steps_on_disk = 0

    def open(self, spec: Any) -> None:
        """Open (or create) the run's dataset for the real env's ``spec``."""
        from latentworld.data import EpisodeDataset

        self.dataset = EpisodeDataset.create(self.out / "data", spec)
        self.horizon = self.cfg.imagination_horizon(spec.n_agents)
        self.steps_on_disk = sum(self.dataset[i].steps for i in range(len(self.dataset)))

    def _ensure_trainer(self) -> bool:
        from latentworld.model import ModelTrainer, TrainConfig

        cfg = self.cfg
        if self.trainer is None and (self.steps_on_disk >= cfg.model_start or (self.out / "model").exists()):
            tc = TrainConfig(batch_size=cfg.model_batch, seq_len=20, seed=cfg.seed, device=cfg.device, start_bank=1024,
                             recency_half_life=cfg.recency_half_life)
            self.trainer = ModelTrainer(self.out / "data", self.out / "model", env_id=cfg.env_id,
                                        model_config=model_config(cfg), config=tc)
        return self.trainer is not None

    def round(self, learner: Any, new: list[int], index: int, clock: Any) -> dict[str, Any]:
        from latentworld.data import SequenceSampler
        from latentworld.model.trust import score_model

        cfg, row = self.cfg, {}
        if not new:
            return row
        fresh = SequenceSampler(self.dataset, 1, episodes=new)  # the real episodes just finished, loaded once
        new_steps = int((fresh.lengths - 1).sum())
        self.steps_on_disk += new_steps
        if not self._ensure_trainer():
            return row
        trainer = self.trainer
        trust = None
        with clock("model"):
            trainer.refresh()
            if trainer.step == 0:
                trainer.train(cfg.model_steps_first)
            else:  # scored before it trains on them: data it has not seen
                trust = score_model(trainer.model, fresh, horizon=self.horizon, quantile=cfg.doubt_quantile or 1.0,
                                    samples=cfg.trust_samples, history=cfg.start_history, device=cfg.device,
                                    seed=index)
                trainer.train(int(round(cfg.model_seqs_per_step * new_steps / trainer.cfg.batch_size)))
        row.update({"model_loss": trainer.train_loss, "model_steps": trainer.step})
        if trust is None:  # a model just made has no score yet: imagination waits a round
            return row
        scale = min(max(trust.reward_skill / cfg.trust_full, 0.0), 1.0) if cfg.trust else 1.0
        if not np.isfinite(scale):
            scale = 0.0
        self.credit += cfg.imag_ratio * scale
        iters = int(self.credit)
        self.credit -= iters
        row.update({"trust_skill": trust.reward_skill, "trust_scale": scale, "imag_iterations": iters})
        if iters == 0:
            return row
        if trust.doubt_limits:
            row.update({"doubt_limit": trust.doubt_limits[0], "doubt_limit_last": trust.doubt_limits[-1]})
        with clock("imagine"):
            row.update(self._imagine(learner, fresh, iters, index, trust.doubt_limits))
        return row

    def _imagine(self, learner: Any, fresh: Any, iters: int, index: int, limits: list[float]) -> dict[str, Any]:
        from latentworld import make_vec
        from latentworld.env.recording import ObsStateVecEnv
        from latentworld.model import encode_history_starts
        from latentworld.model.uncertainty import real_data_scales

        cfg, model = self.cfg, self.trainer.model
        if self.env is None:
            self.env = ObsStateVecEnv(make_vec(cfg.env_id, model, cfg.imag_envs, obs="decoded", horizon=self.horizon,
                                               device=cfg.device, seed=cfg.seed))
        env, rng = self.env, np.random.default_rng([cfg.seed, index])
        row: dict[str, Any] = {}
        env.set_starts(encode_history_starts(model, fresh, len(fresh), rng, cfg.device, history=cfg.start_history))
        ok = cfg.doubt_quantile is not None and limits and all(np.isfinite(limits))
        env.set_doubt_limit(limits if ok else None)  # the model's range of doubt on real-like rollouts
        if cfg.relative_penalty or cfg.uncertainty_penalty:
            penalty = cfg.uncertainty_penalty + (real_data_scales(model, fresh, len(fresh), rng, cfg.device)
                                                 .penalty(cfg.relative_penalty) if cfg.relative_penalty else 0.0)
            env.set_uncertainty_penalty(penalty)
            row["penalty"] = penalty
        env.reset_counts()
        per_iter = _iteration_steps(learner, cfg.imag_envs)
        hist = learner.learn(env, iters * per_iter, progress=False, seed=cfg.seed + 7919 * (index + 1))
        c = env.counts()
        row.update({"imagined_return": _last(hist, "mean_return"), "imag_entropy": _last(hist, "entropy"),
                    "imag_steps": c["steps"],
                    "imag_mean_len": c["episode_steps"] / c["episodes"] if c["episodes"] else None,
                    "imag_cut_share": c["cut_by_doubt"] / c["episodes"] if c["episodes"] else None,
                    # the realised cut per step: share of the imagined episodes cut at step k (sums to the above)
                    "imag_cut_by_step": _cut_by_step(c, self.horizon)})
        return row

    def save(self) -> dict[str, Any]:
        if self.trainer is None:
            return {}
        ev = self.trainer.evaluate()
        self.trainer.save()
        return {"model_eval_loss": ev.get("loss")}

    def summary(self) -> dict[str, Any]:
        if self.trainer is None:
            return {}
        return {"model_eval_loss": self.trainer.eval_loss, "model_steps": self.trainer.step}


class _Oracle:
    """The diagnostic in place of imagination: ``imag_ratio`` learner iterations per round on a
    second real env whose steps are not counted (a perfect model); with ``oracle_branch``, real
    rollouts branched from the round's real states and cut at the imagination horizon."""

    def __init__(self, cfg: LoopConfig, real: Any, done: int):
        from latentworld.env.real_vector import RealVectorEnv
        from latentworld.env.recording import ObsStateVecEnv

        self.cfg, self.credit, self.pool = cfg, 0.0, None  # credit: iterations owed (fractions carry over)
        seed = cfg.seed + done + 104_729
        if cfg.oracle_branch:
            from latentworld.env.real_branch import StatePool, branch_env

            self.pool = StatePool(real)
            env = branch_env(cfg.env_id, cfg.imag_envs, cfg.imagination_horizon(real.n_agents), seed=seed,
                             device=cfg.device)
        else:
            env = RealVectorEnv(cfg.env_id, cfg.imag_envs if _real_envs(cfg) > 1 else 1, seed=seed, device=cfg.device)
        self.env = ObsStateVecEnv(env)

    def round(self, learner: Any, index: int, clock: Any) -> dict[str, Any]:
        self.credit += self.cfg.imag_ratio
        iters = int(self.credit)
        self.credit -= iters
        if iters == 0:
            return {"imag_iterations": 0}
        seed = None
        if self.pool is not None:  # fresh starts from the states this round passed through
            self.env.env._backend.set_pool(self.pool)
            self.pool.clear()
            seed = self.cfg.seed + 7919 * (index + 1)
        with clock("imagine"):
            hist = learner.learn(self.env, iters * _iteration_steps(learner, self.env.num_envs), progress=False,
                                 seed=seed)
        return {"imag_iterations": iters, "imagined_return": _last(hist, "mean_return"),
                "imag_entropy": _last(hist, "entropy")}


class _Clock:
    """Wall seconds per phase of one round, logged as ``seconds_<phase>`` in the curve rows."""

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


def _test(cfg: LoopConfig, learner: Any, steps: int) -> dict[str, Any]:
    """Greedy real test episodes (decentralized, not counted in the budget)."""
    from latentworld.metrics import evaluate

    r = evaluate(learner, cfg.env_id, cfg.test_episodes, seed=cfg.seed + 555_555 + steps,
                 device=cfg.device)
    return {"test_win_rate": r.win_rate, "test_return": r.mean_return}


def _final_eval(cfg: LoopConfig, out: Path) -> dict[str, Any]:
    """Greedy real-env test episodes of the final policy (decentralized execution)."""
    from latentworld.algos import load_policy
    from latentworld.metrics import evaluate

    learner = load_policy(_policy_path(out), device=cfg.device)
    r = evaluate(learner, cfg.env_id, cfg.eval_episodes, seed=cfg.seed + 777_777, device=cfg.device)
    return {"eval_episodes": r.episodes, "eval_win_rate": r.win_rate, "eval_return": r.mean_return}


def _iteration_steps(learner: Any, num_envs: int) -> int:
    """Env steps of one learner iteration on ``num_envs`` envs (MAPPO's rollout, QMIX's chunk)."""
    return num_envs * getattr(learner.cfg, "rollout_len", getattr(learner.cfg, "chunk_len", 1))


def _real_envs(cfg: LoopConfig) -> int:
    from latentworld.registry import has_real_batch

    return cfg.real_envs if has_real_batch(cfg.env_id) else 1


def _cut_by_step(counts: dict[str, Any], horizon: int) -> list[float] | None:
    """Share of the imagined episodes that the doubt cut at step k, k = 0..H-1 (None before any
    episode ended)."""
    if not counts["episodes"]:
        return None
    cuts = counts["cut_at_step"]
    return [round(cuts.get(k, 0) / counts["episodes"], 4) for k in range(horizon)]


def _last(hist: list[dict[str, Any]], key: str) -> float | None:
    vals = [h[key] for h in hist if h.get(key) is not None and np.isfinite(h[key])]
    return float(vals[-1]) if vals else None


__all__ = ["ALGOS", "Curve", "LoopConfig", "make_learner", "model_config", "plot_curves", "run"]
