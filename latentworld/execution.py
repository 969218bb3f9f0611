"""Decentralized execution of a learned policy in a real environment.

A learner (MAPPO, QMIX ...) acts on tensors: ``act(obs [E, N, F], mask [E, N, A],
deterministic) -> actions [E, N]``. The collector and the real-env evaluation call numpy
policies ``policy(obs [E, N, D], mask [E, N, A]) -> [E, N]`` with a ``reset(starting [E])``
hook. :class:`DeployedPolicy` bridges the two; with a world model it first turns each
agent's real observation into the agent features the policy was trained on in imagination,
from that agent's own observation and own previous action only (nothing is shared between
agents at execution time).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from latentworld.algos.policy import Policy
from latentworld.model import WorldModel


class DeployedPolicy:
    """A tensor policy as a collector policy, optionally behind a world-model encoder.

    ``model=None``: the policy sees the real observations (it was trained on the real env,
    or on the learned env's decoded observations). Otherwise it sees agent features
    [h^a, z^a] from the agent-level posterior of ``model``.
    """

    def __init__(self, policy: Policy, model: WorldModel | None = None, *,
                 deterministic: bool = True, sample_latent: bool = False, epsilon: float = 0.0,
                 seed: int = 0, device: str | torch.device = "cpu"):
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon is a probability in [0, 1], got {epsilon}")
        if model is not None:
            model.check_decentralized()
        self.policy, self.model = policy, model
        self.deterministic, self.sample_latent = deterministic, sample_latent
        self.epsilon = epsilon  # chance that an agent's action is replaced by a random available one
        self.device = torch.device(device)
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self._h: torch.Tensor | None = None  # [E, N, deter]
        self._z: torch.Tensor | None = None  # [E, N, Z]
        self._prev: torch.Tensor | None = None  # [E, N] previous own action, -1 after a reset
        self._envs: int | None = None  # E of the episodes being played (set by the first reset)

    @torch.inference_mode()
    def reset(self, starting: np.ndarray) -> None:
        """Forget the memory of the envs whose episode is starting ([E] bool)."""
        idx = torch.as_tensor(np.array(starting, bool), device=self.device)
        if idx.shape[0] != self._envs:  # first episodes, or other envs
            self._envs = idx.shape[0]
            self._h = self._z = self._prev = None
            if hasattr(self.policy, "reset"):  # the learner may still hold an earlier run's memory
                self.policy.reset()
            return
        if self._h is not None:  # the encoder's memory (with a world model)
            self._h[idx] = 0.0
            self._z[idx] = 0.0
            self._prev[idx] = -1
        if hasattr(self.policy, "reset"):  # only the starting envs: the others' memory goes on
            self.policy.reset(idx)

    @torch.inference_mode()
    def features(self, obs: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Real observations [E, N, D] -> what the policy acts on [E, N, F]."""
        o = torch.as_tensor(np.array(obs, np.float32), device=self.device)  # [E, N, D]
        if self.model is None:
            return o
        E, N = o.shape[:2]
        if self._h is None or self._h.shape[0] != E:
            cfg = self.model.cfg
            self._h = torch.zeros(E, N, cfg.deter, device=self.device)
            self._z = torch.zeros(E, N, cfg.latent_size, device=self.device)
            self._prev = torch.full((E, N), -1, dtype=torch.long, device=self.device)
        h, z, _ = self.model.observe_agent(self._h, self._z, o, self._prev, sample=self.sample_latent,
                                           generator=self.gen if self.sample_latent else None)
        self._h, self._z = h, z
        return torch.cat([h, z], -1)  # [E, N, deter + Z]

    @torch.inference_mode()
    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self._envs = len(obs)  # the envs being played: a reset of as many resets only the starting ones
        feats = self.features(obs)  # [E, N, F]
        m = torch.as_tensor(np.asarray(mask) > 0, device=self.device)  # [E, N, A]
        acts = self.policy.act(feats, m, deterministic=self.deterministic)  # [E, N]
        if self.epsilon > 0:
            rand = torch.multinomial(m.flatten(0, 1).float(), 1, generator=self.gen).view(acts.shape)
            swap = torch.rand(acts.shape, generator=self.gen, device=self.device) < self.epsilon
            acts = torch.where(swap, rand.to(acts.dtype), acts)  # [E, N]
        if self._prev is not None:
            self._prev = acts.long().clone()
        return acts.cpu().numpy()


def as_deployed(policy: Any, model: WorldModel | None = None, **kw: Any) -> Any:
    """Wrap a tensor policy; plain numpy policies (callables without ``act``) pass through."""
    if hasattr(policy, "act"):
        return DeployedPolicy(policy, model, **kw)
    if model is not None:
        raise ValueError("a world model was given, but the policy is a plain numpy callable; "
                         "pass a learner with an act(obs, mask, deterministic) method")
    return policy


class ShippedPolicy:
    """A learner's saved files and how to deploy it, as one small picklable object: calling it
    in any process (a Ray worker) rebuilds the learner and returns a :class:`DeployedPolicy`.

    This is what ``run --workers`` puts in Ray's object store once per collection round (the
    weights change every round). Policies on real observations only: a policy on latent
    features would also need the world model in every worker.
    """

    _loaded: dict[str, Any] = {}  # digest -> learner, per process (a worker plays many chunks)

    def __init__(self, learner: Any, *, deterministic: bool = False, epsilon: float = 0.0):
        import hashlib
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as d:
            learner.save(d)
            self.files = {p.name: p.read_bytes() for p in sorted(Path(d).iterdir())}
        self.digest = hashlib.sha256(b"".join(self.files.values())).hexdigest()
        self.deterministic, self.epsilon = deterministic, epsilon

    def learner(self) -> Any:
        """The learner, loaded once per process (from a temporary copy of its files)."""
        import tempfile
        from pathlib import Path

        from latentworld.algos import load_policy

        if self.digest not in self._loaded:
            with tempfile.TemporaryDirectory() as d:
                for name, data in self.files.items():
                    (Path(d) / name).write_bytes(data)
                self._loaded.clear()  # only the newest weights are needed
                self._loaded[self.digest] = load_policy(d)
        return self._loaded[self.digest]

    def __call__(self, seed: int) -> DeployedPolicy:
        """A collector policy seeded ``seed`` (its sampling follows the seed, not the process)."""
        learner = self.learner()
        if hasattr(learner, "gen"):
            learner.gen.manual_seed(seed)
        return DeployedPolicy(learner, None, deterministic=self.deterministic, epsilon=self.epsilon, seed=seed)
