"""What the bundled learners share: the Policy protocol, masked sampling, checkpoint files
(the loader of a saved policy, which needs the learner table, is :mod:`.loader`).

A saved policy is a directory holding ``policy.json`` (algo name, sizes, config, the weights'
file name and SHA-256) and ``policy.<digest>.safetensors``; loading runs no code (no pickles).

E = envs, N = agents, F = obs size, A = actions.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import Tensor

from latentworld._io import atomic_write_bytes, content_name, new_files, remove_unnamed
from latentworld._version import __version__

FORMAT_VERSION = 1
MASKED = -1e9  # finite, so p * log p stays 0 for masked actions instead of 0 * -inf = nan


class PolicyCheckpointError(RuntimeError):
    """A saved policy is missing, corrupted, or does not fit the learner / environment."""


@runtime_checkable
class Policy(Protocol):
    """Decentralized multi-agent policy: each agent acts on its own observation row."""

    def act(self, obs: Tensor, mask: Tensor, deterministic: bool = False) -> Tensor:
        """``obs`` [E, N, F], ``mask`` [E, N, A] bool → actions [E, N] int64 (never masked)."""
        ...

    def reset(self, done: Tensor | None = None) -> None:
        """Forget recurrent memory of the envs where ``done`` [E] is True (all envs if None)."""
        ...


def masked_logits(logits: Tensor, mask: Tensor) -> Tensor:
    """Logits with unavailable actions pushed to MASKED (rows are never all masked)."""
    return logits.masked_fill(~mask, MASKED)


def sample_masked(logits: Tensor, mask: Tensor, deterministic: bool,
                  generator: torch.Generator | None = None) -> Tensor:
    """Gumbel-max sample (or argmax) over available actions; [..., A] → [...] int64."""
    z = masked_logits(logits, mask)
    if not deterministic:
        u = torch.rand(z.shape, generator=generator, device=z.device).clamp_(1e-20, 1.0)
        z = z - torch.log(-torch.log(u))  # Gumbel noise is < 50, far from MASKED
    return z.argmax(-1)


def check_finite(x: Tensor, what: str, iteration: int) -> None:
    """Raise FloatingPointError naming ``what`` and the iteration if ``x`` holds NaN or inf."""
    if not torch.isfinite(x).all():
        raise FloatingPointError(
            f"non-finite {what} at iteration {iteration}: check the env's observations / rewards "
            f"and try a lower learning rate"
        )


def check_env_dims(dims: dict[str, int], env: Any) -> None:
    """Refuse an env whose sizes differ from the learner's, naming each difference."""
    got = {"obs_dim": env.obs_dim, "state_dim": env.state_dim, "n_agents": env.n_agents,
           "n_actions": env.n_actions}
    diff = {k: (dims[k], v) for k, v in got.items() if dims[k] != v}
    if diff:
        raise ValueError(f"env does not match this learner (learner, env): {diff}")


def write_policy(path: str | os.PathLike, algo: str, dims: dict[str, int], config: dict[str, Any],
                 tensors: dict[str, Tensor], extra: dict[str, Any] | None = None) -> Path:
    """Write the weights beside the old ones under a name carrying their digest, then the JSON
    that names them (the commit), then remove the old weights: a save that fails or is killed
    at any point leaves the previous policy whole."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
    name, digest = content_name("policy", data)
    meta = {"format_version": FORMAT_VERSION, "algo": algo, "dims": dims, "config": config,
            "sha256": digest, "weights": name, "latentworld_version": __version__, **(extra or {})}
    with new_files() as written:  # removed again if the save does not reach its commit
        if not (root / name).is_file():
            atomic_write_bytes(root / name, data)
            written.append(root / name)
        atomic_write_bytes(root / "policy.json", json.dumps(meta, indent=2, sort_keys=True).encode())
    remove_unnamed(root, [name], (".safetensors",))
    return root


def read_policy(path: str | os.PathLike, algo: str | None = None) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """(meta, tensors) of a saved policy, checking format, digest and (optionally) algo name."""
    root = Path(path)
    meta_path = root / "policy.json"
    if not meta_path.is_file():
        raise PolicyCheckpointError(f"{root} is not a saved policy: {meta_path} is missing")
    try:
        meta = json.loads(meta_path.read_text())
        meta["algo"], meta["dims"], meta["config"], meta["sha256"]  # noqa: B018 - presence check
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise PolicyCheckpointError(f"{meta_path} is corrupted ({e}); re-save the policy") from e
    if meta.get("format_version") != FORMAT_VERSION:
        raise PolicyCheckpointError(f"{root} has policy format {meta.get('format_version')}; "
                                    f"this latentworld reads {FORMAT_VERSION}")
    if algo is not None and meta["algo"] != algo:
        raise PolicyCheckpointError(f"{root} holds a {meta['algo']!r} policy, not {algo!r}; "
                                    f"use latentworld.algos.load_policy() to load any kind")
    weights = root / str(meta.get("weights", "policy.safetensors"))  # the name before content names
    if not weights.is_file():
        raise PolicyCheckpointError(f"{weights} is missing; the saved policy is incomplete")
    data = weights.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise PolicyCheckpointError(f"{weights} is corrupted or truncated (SHA-256 does not match "
                                    f"policy.json, {len(data)} bytes); re-save the policy")
    try:
        tensors = load(data)
    except SafetensorError as e:  # pragma: no cover - the digest catches this first
        raise PolicyCheckpointError(f"{weights} is not a valid safetensors file ({e})") from e
    return meta, tensors


def config_from_dict(cls: type, d: dict[str, Any], root: str | os.PathLike) -> Any:
    """A config dataclass from saved JSON, refusing unknown fields by name."""
    unknown = sorted(set(d) - set(cls.__dataclass_fields__))
    if unknown:
        raise PolicyCheckpointError(f"{root}: {cls.__name__} has no fields {unknown} (saved by a newer "
                                    f"latentworld?)")
    return cls(**d)


def load_state(module: torch.nn.Module, tensors: dict[str, Tensor], root: str | os.PathLike) -> None:
    """``load_state_dict`` with an error that names the mismatching tensors."""
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    shapes = [f"{k}: saved {list(tensors[k].shape)} vs model {list(v.shape)}"
              for k, v in own.items() if k in tensors and tensors[k].shape != v.shape]
    if missing or unexpected or shapes:
        raise PolicyCheckpointError(
            f"{root} does not fit this learner: missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"shape mismatches {shapes[:5]}"
        )
    module.load_state_dict(tensors)


def network_tensors(owner: Any, names: tuple[str, ...]) -> dict[str, Tensor]:
    """The state dicts of ``owner``'s networks ``names``, keys prefixed ``"name."`` (what a saved
    policy's safetensors file holds)."""
    return {f"{n}.{k}": v for n in names for k, v in getattr(owner, n).state_dict().items()}


def load_networks(owner: Any, tensors: dict[str, Tensor], names: tuple[str, ...], root: str | os.PathLike) -> None:
    """Load the output of :func:`network_tensors` back into ``owner``'s networks (on its device)."""
    for name in names:
        part = {k[len(name) + 1:]: v.to(owner.device) for k, v in tensors.items() if k.startswith(name + ".")}
        load_state(getattr(owner, name), part, root)


class SavedLearner:
    """``save`` / ``load`` for the bundled learners: a subclass names its ``algo``, its
    ``networks`` (attribute names) and its ``config_cls``; ``_saved_extra`` / ``_restore`` carry
    its other state (env steps, exploration) through ``policy.json``."""

    algo: str = ""
    networks: tuple[str, ...] = ()
    config_cls: type = object

    def save(self, path: str | os.PathLike) -> None:
        """Write ``path/policy.<digest>.safetensors`` (the networks) and ``path/policy.json``."""
        from dataclasses import asdict

        write_policy(path, self.algo, self.dims, asdict(self.cfg), network_tensors(self, self.networks),
                     self._saved_extra())

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> Any:
        """The learner saved at ``path`` (checked: format, digest, algo, sizes)."""
        meta, tensors = read_policy(path, cls.algo)
        agent = cls(**meta["dims"], cfg=config_from_dict(cls.config_cls, meta["config"], path), device=device)
        load_networks(agent, tensors, cls.networks, path)
        agent._restore(meta)
        return agent

    def _saved_extra(self) -> dict[str, Any]:
        return {"env_steps": self.env_steps}

    # ---- where each env's episodes stand between learn() calls ---------------------------------
    # A learner may alternate between envs (the loop: real rollouts, then imagined ones), so what
    # learn() needs to carry on an env's episodes is kept per env, not for the last env only.
    def _carried(self, env: Any, seed: int | None) -> tuple | None:
        """What the last ``learn(env)`` left, or None to reset ``env`` (a new env, or a seed given)."""
        carry = getattr(self, "_carry", {}).get(id(env))
        if seed is not None or carry is None or carry[0] is not env:
            return None
        return carry[1:]

    def _carry_on(self, env: Any, *state: Any) -> None:
        if not hasattr(self, "_carry"):
            self._carry: dict[int, tuple] = {}
        self._carry[id(env)] = (env, *state)

    def _restore(self, meta: dict[str, Any]) -> None:
        self.env_steps = int(meta.get("env_steps", 0))


@torch.no_grad()
def evaluate_policy(policy: Policy, env: Any, deterministic: bool = True, seed: int = 12345) -> dict[str, float]:
    """Play the first episode of each of the E envs of a ``TensorVecEnv`` with ``policy``.

    Only each env's *first* episode counts, so short episodes (quick wins or losses) are
    not over-represented. Returns mean team return, win rate, mean length and episodes.
    """
    E = env.num_envs
    step = env.reset(seed=seed)
    policy.reset()
    ret = torch.zeros(E, device=step.reward.device)  # [E]
    length = torch.zeros(E, device=step.reward.device)  # [E]
    won = torch.zeros(E, dtype=torch.bool, device=step.reward.device)  # [E]
    running = torch.ones(E, dtype=torch.bool, device=step.reward.device)  # [E] first episode not over
    while running.any():
        step = env.step(policy.act(step.obs, step.action_mask, deterministic))
        policy.reset(step.done)
        ret += step.reward * running
        length += running.float()
        won |= step.won & step.done & running
        running &= ~step.done
    return {"mean_return": ret.mean().item(), "win_rate": won.float().mean().item(),
            "mean_length": length.mean().item(), "episodes": E}
