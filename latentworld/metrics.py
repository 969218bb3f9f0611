"""Real-environment evaluation of policies under decentralized execution."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from latentworld.data.collector import episode_stream, random_policy
from latentworld.execution import as_deployed


@dataclass
class EvalResult:
    """What a policy achieved in the real environment."""

    env_id: str
    episodes: int
    win_rate: float | None  # None for envs without wins
    mean_return: float  # team return (mean over agents of the summed rewards)
    std_return: float
    mean_length: float
    steps: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict."""
        return asdict(self)


def evaluate(policy: Any, env_id: str, episodes: int = 100, *, model: Any = None, num_envs: int | None = None,
             seed: int = 12345, deterministic: bool = True, device: str = "cpu") -> EvalResult:
    """Play ``episodes`` real episodes of ``env_id`` with ``policy`` and report win rate and return.

    ``policy``: a learner with ``act(obs, mask, deterministic)`` (MAPPO, QMIX ...), a numpy
    collector policy, or ``"random"``. Pass the world ``model`` the policy was trained in
    when it acts on latent agent features: each agent then encodes only its own
    observations (decentralized execution). SMAX ids play ``num_envs`` episodes at once
    (default: up to 64); other families one at a time.
    """
    from latentworld.registry import has_real_batch

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if isinstance(policy, str):
        if policy != "random":
            raise ValueError(f"unknown policy {policy!r}; pass a learner, a callable or 'random'")
        policy = random_policy(seed)
    elif model is not None and isinstance(model, tuple):
        model = model[0]  # (model, meta) as returned by load_model
    if num_envs is None:
        num_envs = min(episodes, 64) if has_real_batch(env_id) else 1
    runner = as_deployed(policy, model, deterministic=deterministic, seed=seed, device=device)
    spec, stream = episode_stream(env_id, runner, episodes, seed=seed, num_envs=num_envs)
    t0 = time.perf_counter()
    rets, wins, lens = [], [], []
    for ep in stream:
        rets.append(ep.team_return)
        wins.append(bool(ep.won))
        lens.append(ep.steps)
    return EvalResult(
        env_id=env_id, episodes=len(rets), win_rate=float(np.mean(wins)) if spec.has_wins else None,
        mean_return=float(np.mean(rets)), std_return=float(np.std(rets)), mean_length=float(np.mean(lens)),
        steps=int(np.sum(lens)), seconds=time.perf_counter() - t0,
    )


def real_vs_random(sampled: Any, greedy: Any, env_id: str, episodes: int = 100, *, seed: int = 0
                   ) -> dict[str, float]:
    """Real return and win rate of a trained policy played with sampled and with greedy actions
    (two callables or learners), beside the random policy's on the same seed."""
    s = evaluate(sampled, env_id, episodes, seed=seed)
    g = evaluate(greedy, env_id, episodes, seed=seed)
    r = evaluate("random", env_id, episodes, seed=seed)
    return {"real_return_sampled": s.mean_return, "real_win_sampled": s.win_rate,
            "real_return_greedy": g.mean_return, "real_win_greedy": g.win_rate,
            "random_return": r.mean_return, "random_win": r.win_rate}
