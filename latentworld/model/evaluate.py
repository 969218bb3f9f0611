"""Model-quality report: one-step and open-loop k-step prediction errors on held-out episodes.

From the posterior state at every row t0 of a held-out episode, the model rolls its priors
forward k steps with the actions that were really taken, and its predictions for row
t0 + k are compared with what really happened there. Trivial baselines sit beside every
number so that it means something:

- observations (MSE over alive agents): the last seen observation, obs[t0];
- team reward (MAE): the mean reward of the training episodes;
- episode end (accuracy, F1 of "terminated"): "never ends";
- available actions (accuracy, F1 of "available"): the last seen mask, mask[t0];
- cross-agent consistency: variance across agents of the predicted reward (the real
  team reward has variance 0 across agents in SMAX/SMAC).

What imagination relies on, at the imagination horizon (:mod:`latentworld.model.fidelity`):
the reward skill of the H-step return (expectation over sampled rollouts, and the mode), the
Brier score of a win within H beside the base rate's, observation error over copying.

GAWM's two summary numbers (arXiv 2501.10116; formulas in docs/model_metrics.md), per horizon:

- GCI, global consistency index: how much the agents' own predictions of quantities that are
  global disagree along the rollouts, :func:`gci_parts` (0: they all agree; beside it, the
  real rewards' spread across agents, 0 for a team reward);
- GPE, global prediction error: :func:`gpe_parts`, observation MSE + team-reward MSE +
  continuation Brier score against the real rows, beside the same sum for the baselines.
"""

from __future__ import annotations

import numpy as np
import torch

from latentworld.data import EpisodeDataset, SequenceSampler

from .fidelity import default_horizon, measure
from .world_model import WorldModel, batch_to_torch

HORIZONS = (1, 5, 15)


def _f1(pred: np.ndarray, true: np.ndarray) -> float:
    tp = float(np.sum(pred & true))
    fp, fn = float(np.sum(pred & ~true)), float(np.sum(~pred & true))
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else 1.0


@torch.no_grad()
def model_quality(model: WorldModel, ds: EpisodeDataset, episodes: list[int], *,
                  horizons: tuple[int, ...] = HORIZONS, reward_baseline: float = 0.0,
                  device: str = "cpu", max_episodes: int = 64) -> dict[str, dict[str, float]]:
    """``{"k=1": {...}, "k=5": {...}, ...}``: model and baseline metrics per horizon."""
    model.eval()
    spec = ds.spec
    episodes = episodes[:max_episodes]
    sampler = SequenceSampler(ds, seq_len=spec.episode_limit + 1, episodes=episodes)
    batch = sampler.gather(np.arange(len(episodes)), np.zeros(len(episodes), int))  # whole episodes
    tb = batch_to_torch(batch, device)
    states, _ = model.observe(tb, sample=False)  # [B, T, N, ...] posterior modes: a repeatable report
    B, T = batch["valid"].shape
    K = max(horizons)
    t0s = np.arange(T - 1)
    # start states: every row t0 of every episode, flattened to [B * T0, N, ...]
    start = states.flatten_time(t0s)
    acts = torch.as_tensor(batch["actions"], device=device)  # [B, T, N]
    preds: dict[int, dict[str, torch.Tensor]] = {}
    state = start
    for k in range(1, K + 1):
        idx = np.minimum(t0s + k - 1, T - 1)
        a = acts[:, idx].reshape(B * len(t0s), spec.n_agents)  # actions at row t0 + k - 1
        state, *_ = model.step(state, a, sample=False)
        if k in horizons:
            preds[k] = {key: v.cpu() for key, v in model.predict_heads(state).items()}
            preds[k]["z_g"] = state.z_g.cpu()  # [B * T0, N, Z] each agent's global latent
    report = {}
    for k in horizons:
        tgt = np.minimum(t0s + k, T - 1)
        ok = batch["valid"][:, tgt] & (t0s + k < T)[None]  # [B, T0]: target row is real data
        ok &= batch["valid"][:, t0s]
        report[f"k={k}"] = _metrics(preds[k], batch, t0s, tgt, ok, reward_baseline)
    model.train()
    return report


def _metrics(p: dict[str, torch.Tensor], batch: dict, t0s, tgt, ok: np.ndarray, r_base: float) -> dict:
    B, T0 = ok.shape
    N = batch["obs"].shape[2]
    obs_t = batch["obs"][:, tgt]  # [B, T0, N, D]
    obs_p = p["obs"].numpy().reshape(B, T0, N, -1)
    obs_last = batch["obs"][:, t0s]
    alive = batch["alive"][:, tgt] & ok[..., None]  # [B, T0, N]
    rew_t = batch["rewards"][:, tgt].mean(-1)  # [B, T0] team reward
    rew_agents = p["reward"].numpy().reshape(B, T0, N)
    end_t = batch["terminated"][:, tgt][ok]
    end_p = (p["cont"].numpy().reshape(B, T0) < 0.5)[ok]
    m_t = batch["action_mask"][:, tgt][ok] > 0  # [M, N, A]
    m_p = (p["avail_probs"].numpy().reshape(B, T0, N, -1) > 0.5)[ok]
    m_last = batch["action_mask"][:, t0s][ok] > 0
    out = {
        "samples": int(ok.sum()),
        "obs_mse": float(((obs_p - obs_t) ** 2).mean(-1)[alive].mean()),
        "obs_mse_baseline": float(((obs_last - obs_t) ** 2).mean(-1)[alive].mean()),
        "reward_mae": float(np.abs(rew_agents.mean(-1) - rew_t)[ok].mean()),
        "reward_mae_baseline": float(np.abs(r_base - rew_t)[ok].mean()),
        "end_accuracy": float((end_p == end_t).mean()),
        "end_accuracy_baseline": float((~end_t).mean()),
        "end_f1": _f1(end_p, end_t),
        "end_f1_baseline": _f1(np.zeros_like(end_t), end_t),
        "avail_accuracy": float((m_p == m_t).mean()),
        "avail_accuracy_baseline": float((m_last == m_t).mean()),
        "avail_f1": _f1(m_p, m_t),
        "avail_f1_baseline": _f1(m_last, m_t),
        "reward_agent_variance": float(rew_agents.var(-1)[ok].mean()),
        "reward_agent_variance_true": float(batch["rewards"][:, tgt].var(-1)[ok].mean()),
    }
    gci = gci_parts(rew_agents[ok], p["cont_agents"].numpy().reshape(B, T0, N)[ok],
                    p["z_g"].numpy().reshape(B, T0, N, -1)[ok])
    gpe = gpe_parts(obs_p, obs_t, alive, rew_agents.mean(-1)[ok], rew_t[ok],
                    p["cont"].numpy().reshape(B, T0)[ok], ~end_t)
    gpe_base = gpe_parts(obs_last, obs_t, alive, np.full(int(ok.sum()), r_base), rew_t[ok],
                         np.ones(int(ok.sum())), ~end_t)
    out.update({f"gci_{k}": v for k, v in gci.items()})
    out.update({f"gpe_{k}": v for k, v in gpe.items()})
    out.update({f"gpe_{k}_baseline": v for k, v in gpe_base.items()})
    return out


def gci_parts(reward: np.ndarray, cont: np.ndarray, z_g: np.ndarray) -> dict[str, float]:
    """Global consistency index over M rollout rows: reward [M, N] and cont [M, N] (each agent's
    predicted team reward and continuation probability), z_g [M, N, Z] (each agent's global
    latent, one-hot groups). Each part is the mean over rows (and latent dims) of the variance
    across agents; ``total`` is their sum. Agents that agree everywhere give 0."""
    parts = {"reward": float(reward.var(-1).mean()) if reward.size else 0.0,
             "cont": float(cont.var(-1).mean()) if cont.size else 0.0,
             "global": float(z_g.var(-2).mean()) if z_g.size else 0.0}
    return {**parts, "total": sum(parts.values())}


def gpe_parts(obs_p: np.ndarray, obs_t: np.ndarray, alive: np.ndarray, reward_p: np.ndarray,
              reward_t: np.ndarray, cont_p: np.ndarray, cont_t: np.ndarray) -> dict[str, float]:
    """Global prediction error: observation MSE over the ``alive`` agents (obs [..., N, D],
    alive [..., N]), team-reward MSE and the continuation Brier score (probabilities against
    0/1 ``cont_t``) over the M rows; ``total`` is their sum. A perfect model gives 0."""
    parts = {"obs": float(((obs_p - obs_t) ** 2).mean(-1)[alive].mean()) if alive.any() else 0.0,
             "reward": float(((reward_p - reward_t) ** 2).mean()) if reward_t.size else 0.0,
             "cont": float(((cont_p - cont_t.astype(np.float64)) ** 2).mean()) if cont_t.size else 0.0}
    return {**parts, "total": sum(parts.values())}


def beats_baseline(metrics: dict[str, float]) -> dict[str, bool]:
    """Which metrics the model wins against its baseline (lower error, higher accuracy/F1)."""
    lower = ("obs_mse", "reward_mae")
    higher = ("end_accuracy", "end_f1", "avail_accuracy", "avail_f1")
    res = {k: metrics[k] < metrics[f"{k}_baseline"] for k in lower}
    res.update({k: metrics[k] >= metrics[f"{k}_baseline"] for k in higher})
    return res


def evaluate_checkpoint(model_dir: str, data_dir: str, *, env_id: str | None = None,
                        device: str = "cpu") -> dict:
    """The full report for a checkpoint on a dataset of the same env.

    On the dataset the model was trained on, only its held-out episodes are used; on any
    other dataset of the same env, every episode is unseen and used.
    """
    from .checkpoint import load_model

    model, meta = load_model(model_dir, env_id, device)
    ds = EpisodeDataset.open(data_dir)
    if ds.spec.env_id != meta["spec"].env_id:
        raise ValueError(f"dataset {data_dir} holds {ds.spec.env_id!r} episodes but the model was trained "
                         f"on {meta['spec'].env_id!r}")
    trained = meta.get("dataset", {})
    n_trained = int(trained.get("episodes", 0))
    same = n_trained > 0 and ds.fingerprint(n_trained) == trained.get("fingerprint")
    held = [i for i in trained["held_out"] if i < len(ds)] if same else list(range(len(ds)))
    if not held:
        raise ValueError(f"no held-out episodes to evaluate on in {data_dir}")
    base_eps = [i for i in range(n_trained) if i not in set(held)] if same else held
    rewards = [ds[i].rewards[1:].mean() for i in base_eps[:200]]
    report = model_quality(model, ds, held, reward_baseline=float(np.mean(rewards)), device=device)
    mean = lambda key: float(np.mean([m[key] for m in report.values()]))  # noqa: E731 over the horizons
    H = default_horizon(ds.spec.n_agents)
    f = measure(model, SequenceSampler(ds, 1, episodes=held[:64]), horizon=H, samples=8, max_starts=1024,
                device=device)
    fidelity = {"horizon": H, "reward_skill": f.reward_skill, "reward_skill_mode": f.reward_skill_mode,
                "win_brier": f.win_brier, "win_brier_base": f.win_brier_base,
                "obs_error_ratio": {str(k): v for k, v in f.obs_error.items()}, "starts": f.starts}
    return {"fidelity": fidelity, "env_id": ds.spec.env_id, "model": str(model_dir), "data": str(data_dir),
            "episodes": len(held[:64]), "held_out_of_training_data": same, "horizons": report,
            "beats_baseline": {k: beats_baseline(v) for k, v in report.items()},
            "gci": {part: mean(f"gci_{part}") for part in ("total", "reward", "cont", "global")},
            "gci_reward_data": mean("reward_agent_variance_true"),  # the real rewards' spread across agents
            "gpe": {part: mean(f"gpe_{part}") for part in ("total", "obs", "reward", "cont")},
            "gpe_baseline": {part: mean(f"gpe_{part}_baseline") for part in ("total", "obs", "reward", "cont")}}
