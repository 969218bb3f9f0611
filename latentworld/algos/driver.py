"""The training loop every bundled learner shares: iterations on a tensor env, episode tallies,
progress bar, callback, and carrying an env's episodes over to the next ``learn`` call.

A learner says what one iteration does (:meth:`DrivenLearner._iteration`), what a fresh env
needs (:meth:`DrivenLearner._fresh`) and what its records add; :meth:`DrivenLearner.learn`
does the rest.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import torch
from tqdm.auto import tqdm

from .policy import SavedLearner, check_env_dims


class Tally:
    """Team returns of the episodes under way [E], and the episodes an iteration finished."""

    def __init__(self, ep_ret: torch.Tensor):
        self.ep_ret = ep_ret  # [E] running team return of each env's episode
        self.returns: list[float] = []
        self.wins: list[bool] = []

    def add(self, reward: torch.Tensor, done: torch.Tensor, won: torch.Tensor) -> None:
        """Add ``reward`` [E]; where ``done`` [E], close the episodes (with ``won`` [E])."""
        self.ep_ret += reward
        if done.any():
            self.returns += self.ep_ret[done].tolist()
            self.wins += won[done].tolist()
            self.ep_ret[done] = 0.0

    def record(self) -> dict[str, Any]:
        """The finished episodes' count, mean team return and win rate (NaN when none)."""
        n = len(self.returns)
        return {"episodes": n, "mean_return": sum(self.returns) / n if n else float("nan"),
                "win_rate": sum(self.wins) / n if n else float("nan")}


class DrivenLearner(SavedLearner):
    """A learner trained by :meth:`learn`; subclasses fill in the hooks below."""

    def _iteration_len(self) -> int:
        """Vector steps per iteration (each is E env steps)."""
        raise NotImplementedError

    def _prepare(self, env: Any) -> None:
        """Called at the start of every ``learn`` (for example to build a replay buffer)."""

    def _fresh(self, env: Any, step: Any) -> tuple:
        """The carry for an env just reset to ``step`` (recurrent state, previous actions)."""
        raise NotImplementedError

    def _iteration(self, env: Any, it: int, step: Any, carry: tuple, tally: Tally) -> tuple[Any, tuple, dict]:
        """One iteration from ``step``: returns the step it ended on, the new carry and the
        record's learner-specific statistics."""
        raise NotImplementedError

    def _postfix(self, record: dict[str, Any]) -> dict[str, str]:
        return {}

    def _desc(self) -> str:
        return self.algo.upper()

    def learn(self, env: Any, total_steps: int, *,
              callback: Callable[[dict[str, Any]], bool | None] | None = None,
              progress: bool = True, seed: int | None = None,
              log_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
        """Train for ``total_steps`` env steps (E per vector step); returns one record per
        iteration. ``callback(record)`` returning False stops early. Calling again with the
        same env continues its episodes; another env is reset (with ``cfg.seed``), and so is
        this one when ``seed`` is given (with that seed). Replay buffers persist across calls.
        ``log_dir``: every record's numbers also go to TensorBoard event files there (step: the
        learner's env steps; needs the tensorboard extra)."""
        check_env_dims(self.dims, env)
        log = None
        if log_dir is not None:
            from latentworld.tblog import ScalarLog

            log = ScalarLog(log_dir, purge_step=self.env_steps + 1 if self.env_steps else None, required=True)
        self._prepare(env)
        E = env.num_envs
        per_iter = E * self._iteration_len()
        n_iters = max(1, math.ceil(total_steps / per_iter))
        carried = self._carried(env, seed)
        if carried is not None:  # the same env again (training in chunks): carry on where it stopped
            step, ep_ret, *rest = carried
            carry = tuple(rest)
        else:
            step = env.reset(seed=self.cfg.seed if seed is None else seed)
            carry = self._fresh(env, step)
            ep_ret = torch.zeros(E, device=self.device)  # [E]
        history: list[dict[str, Any]] = []
        bar = tqdm(total=n_iters * per_iter, desc=self._desc(), unit="step", disable=not progress)
        t_start = time.perf_counter()
        for it in range(n_iters):
            tally = Tally(ep_ret)
            step, carry, stats = self._iteration(env, it, step, carry, tally)
            record = {"iteration": it, "env_steps": self.env_steps, **tally.record(), **stats,
                      "time_s": time.perf_counter() - t_start}
            history.append(record)
            if log is not None:
                log.write(record, self.env_steps)
            bar.update(per_iter)
            bar.set_postfix(ret=f"{record['mean_return']:.2f}", win=f"{record['win_rate']:.2f}",
                            **self._postfix(record))
            if callback is not None and callback(record) is False:
                break
        bar.close()
        if log is not None:
            log.close()
        self._carry_on(env, step, ep_ret, *carry)
        return history
