"""Train a world model on an episode dataset: held-out split, evaluation, resume, checkpoints."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from latentworld._io import writer_lock
from latentworld.data import EpisodeDataset, SequenceSampler

from .checkpoint import (
    CheckpointError,
    check_env,
    load_model,
    read_meta,
    read_tensors,
    write_checkpoint,
)
from .config import WorldModelConfig
from .starts import encode_start_bank
from .world_model import WorldModel, batch_to_torch


@dataclass
class TrainConfig:
    """How to train (what to train is :class:`WorldModelConfig`). Defaults fit a 2-core CPU."""

    steps: int = 9000
    """Total gradient steps (a resumed run continues up to this number). Enough for the
    one-step observation prediction to beat copying the last observation, within half an hour
    on two CPU cores."""
    batch_size: int = 16
    """Sequences per gradient step."""
    seq_len: int = 20
    """Rows per sequence."""
    eval_every: int = 500
    """Held-out evaluation (and a checkpoint save) every this many steps."""
    holdout_every: int = 10
    """Every k-th episode (index % k == k - 1) is held out from training for evaluation."""
    seed: int = 0
    """Seeds torch and the sampler: the same seed, data and config give the same model."""
    device: str = "cpu"
    """``cpu`` or ``cuda`` (``cuda:1`` ...)."""
    threads: int | None = None
    """torch CPU threads (None: torch's default)."""
    start_bank: int = 512
    """How many encoded real start states the checkpoint keeps for the learned env."""
    recency_half_life: float = 0.0
    """Draw recent episodes more often: an episode's weight halves for every this many rows
    (real steps) appended after it (:class:`~latentworld.data.SequenceSampler`). 0: uniform,
    right for a fixed dataset; the loop sets it, since its data follow a changing policy."""


@dataclass
class TrainResult:
    path: str
    steps: int
    train_loss: float
    eval_loss: float | None
    seconds: float
    sequences_per_s: float
    agent_steps_per_s: float
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict."""
        d = asdict(self)
        d.pop("history")
        return d


def split_episodes(n: int, holdout_every: int) -> tuple[list[int], list[int]]:
    """(train, held-out) episode indices; fixed by index so appending keeps old splits."""
    held = [i for i in range(n) if holdout_every > 1 and i % holdout_every == holdout_every - 1]
    train = [i for i in range(n) if i not in set(held)]
    if not train or not held:
        raise ValueError(f"need at least {holdout_every} episodes to hold some out for evaluation, got {n}")
    return train, held


def _check_device(device: str) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
    return dev


@torch.no_grad()
def evaluate_loss(model: WorldModel, sampler: SequenceSampler, device: torch.device, max_batches: int = 20
                  ) -> dict[str, float]:
    """Mean loss terms over held-out windows (deterministic order)."""
    model.eval()
    sums: dict[str, float] = {}
    n = 0
    for k, batch in enumerate(sampler.iter_windows(batch_size=32)):
        if k >= max_batches:
            break
        _, metrics = model.loss(batch_to_torch(batch, device))
        for key, v in metrics.items():
            sums[key] = sums.get(key, 0.0) + float(v)
        n += 1
    model.train()
    return {k: v / max(n, 1) for k, v in sums.items()}


class ModelTrainer:
    """A world model, its optimizer and its data, kept in memory between training calls.

    :func:`train_model` trains once and returns; the MABL loop keeps one trainer for a
    whole run instead, so that each of its many short training bursts costs only its
    gradient steps: no re-reading of the dataset, no rebuilt model, no checkpoint round
    trip. ``refresh()`` picks up episodes appended since (the held-out split is fixed by
    episode index, so old episodes keep their side).
    """

    def __init__(self, data: str | os.PathLike, out: str | os.PathLike, *, env_id: str | None = None,
                 model_config: WorldModelConfig | None = None, config: TrainConfig | None = None):
        self.cfg = cfg = config or TrainConfig()
        self.device = _check_device(cfg.device)
        self.out = Path(out)
        self.ds = EpisodeDataset.open(data)
        if env_id is not None and env_id != self.ds.spec.env_id:
            raise ValueError(f"dataset {data} holds {self.ds.spec.env_id!r} episodes, not {env_id!r}")
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.train_idx, self.held_idx = split_episodes(len(self.ds), cfg.holdout_every)
        torch.manual_seed(cfg.seed)
        self.mcfg = mcfg = (model_config or WorldModelConfig()).for_env(self.ds.spec.env_id)
        self.model = WorldModel(self.ds.spec, mcfg).to(self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=mcfg.lr, eps=1e-6)
        trend = (mcfg.reward_trend, mcfg.reward_trend_window) if mcfg.reward_trend > 0 else None
        self.train_s = SequenceSampler(self.ds, cfg.seq_len, seed=cfg.seed, episodes=self.train_idx,
                                       reward_trend=trend, recency_half_life=cfg.recency_half_life)
        self.held_s = SequenceSampler(self.ds, cfg.seq_len, seed=cfg.seed + 1, episodes=self.held_idx,
                                      reward_trend=trend)
        self.step, self.history = _maybe_resume(self.out, self.model, self.opt, self.train_s, mcfg, self.ds,
                                                self.device)
        self.eval_loss: float | None = self.history[-1].get("eval_loss") if self.history else None
        self.train_loss = float("nan")

    def refresh(self) -> None:
        """Sample from the episodes appended to the dataset since the last call too."""
        self.train_idx, self.held_idx = split_episodes(len(self.ds), self.cfg.holdout_every)
        self.train_s.refresh(self.train_idx)
        self.held_s.refresh(self.held_idx)

    def train(self, steps: int, *, progress: bool = False) -> float:
        """``steps`` more gradient steps; returns the last training loss."""
        cfg, model = self.cfg, self.model
        bar = tqdm(total=steps, desc=f"train {self.ds.spec.env_id}", unit="step", disable=not progress)
        for _ in range(steps):
            batch = batch_to_torch(self.train_s.sample(cfg.batch_size), self.device)
            loss, metrics = model.loss(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"world-model loss became {loss.item()} at step {self.step}: "
                                         f"terms {metrics}; lower lr or check the data for extreme values")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.mcfg.grad_clip)
            self.opt.step()
            self.step += 1
            self.train_loss = float(loss.detach())
            bar.update(1)
            if self.step % 20 == 0:
                bar.set_postfix(loss=f"{self.train_loss:.3f}")
        bar.close()
        return self.train_loss

    def evaluate(self) -> dict[str, float]:
        """Held-out loss terms; appended to the history that the checkpoint keeps."""
        ev = evaluate_loss(self.model, self.held_s, self.device)
        self.eval_loss = ev.get("loss")
        self.history.append({"step": self.step, "train_loss": self.train_loss,
                             **{f"eval_{k}": v for k, v in ev.items()}})
        return ev

    def save(self) -> None:
        """Write the checkpoint (weights, optimizer, start bank, sampler state) to ``out``."""
        _save(self.out, self.model, self.opt, self.train_s, self.ds, self.held_idx, self.train_idx, self.mcfg,
              self.cfg, self.step, self.history, self.device)


def train_model(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    env_id: str | None = None,
    model_config: WorldModelConfig | None = None,
    config: TrainConfig | None = None,
    progress: bool = True,
    tensorboard: bool = False,
) -> TrainResult:
    """Train (or resume training of) a world model on the dataset at ``data``; save to ``out``
    (one process at a time: a second on the same ``out`` is refused at once). ``tensorboard``:
    the losses at each evaluation point also go to TensorBoard event files in ``out`` (tags
    ``model/train_loss``, ``model/eval_<term>``; needs the tensorboard extra)."""
    with writer_lock(out, "checkpoint directory"):
        return _train_model(data, out, env_id, model_config, config, progress, tensorboard)


def _train_model(data, out, env_id, model_config, config, progress, tensorboard) -> TrainResult:
    cfg = config or TrainConfig()
    tr = ModelTrainer(data, out, env_id=env_id, model_config=model_config, config=cfg)
    log = None
    if tensorboard:
        from latentworld.tblog import ScalarLog

        log = ScalarLog(out, purge_step=tr.step + 1 if tr.step else None, required=True)
    bar = tqdm(total=cfg.steps, initial=tr.step, desc=f"train {tr.ds.spec.env_id}", unit="step",
               disable=not progress)
    t0, start_step = time.perf_counter(), tr.step
    while tr.step < cfg.steps:
        # train up to the next evaluation (and checkpoint) point
        todo = min(cfg.eval_every - tr.step % cfg.eval_every, cfg.steps - tr.step)
        tr.train(todo)
        bar.update(todo)
        bar.set_postfix(loss=f"{tr.train_loss:.3f}")
        tr.evaluate()
        if log is not None:  # before the save: a resume hides events past the saved step
            log.write({f"model_{k}": v for k, v in tr.history[-1].items() if k != "step"}, tr.step)
        tr.save()
    bar.close()
    if log is not None:
        log.close()
    secs = time.perf_counter() - t0
    seqs = (tr.step - start_step) * cfg.batch_size / max(secs, 1e-9)
    return TrainResult(
        path=str(out), steps=tr.step, train_loss=tr.train_loss, eval_loss=tr.eval_loss, seconds=secs,
        sequences_per_s=seqs, agent_steps_per_s=seqs * cfg.seq_len * tr.ds.spec.n_agents, history=tr.history,
    )


def _save(out: Path, model, opt, sampler, ds, held_idx, train_idx, mcfg, cfg, step, history, dev) -> None:
    bank = encode_start_bank(model, ds, train_idx, cfg.start_bank, dev, cfg.seed)
    optim = _flatten_optim(opt)
    optim["torch_rng"] = torch.get_rng_state()
    write_checkpoint(
        out, spec=ds.spec, config=mcfg.to_dict(),
        tensors={"model": model.state_dict(), "starts": bank, "optim": optim},
        info={
            "train_steps": step, "train_config": asdict(cfg), "history": history,
            "dataset": {"path": str(ds.root), "fingerprint": ds.fingerprint(), "episodes": len(ds),
                        "held_out": held_idx},
            "sampler_rng": json.loads(json.dumps(sampler.rng.bit_generator.state)),
        },
    )


def _flatten_optim(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    flat = {}
    for pid, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            flat[f"{pid}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    return flat


def _maybe_resume(out: Path, model, opt, sampler, mcfg, ds, dev) -> tuple[int, list]:
    if not (out / "meta.json").exists():
        return 0, []
    meta = read_meta(out)
    check_env(meta, ds.spec.env_id, ds.spec)
    if WorldModelConfig.from_dict(meta["config"]) != mcfg:  # fields added later take their old meaning
        raise CheckpointError(f"{out} holds a model with another config; choose a new --out to start afresh")
    m, _ = load_model(out, ds.spec.env_id, str(dev))
    model.load_state_dict(m.state_dict())
    flat = read_tensors(out, "optim", meta, str(dev)) or {}
    sd = opt.state_dict()
    for key, v in flat.items():
        if key == "torch_rng":
            torch.set_rng_state(v.cpu())
            continue
        pid, name = key.split(".", 1)
        sd["state"].setdefault(int(pid), {})[name] = v
    opt.load_state_dict(sd)
    sampler.rng.bit_generator.state = meta["sampler_rng"]
    return int(meta["train_steps"]), list(meta.get("history", []))
