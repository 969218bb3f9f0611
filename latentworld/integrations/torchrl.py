"""A native TorchRL ``EnvBase`` over :class:`LatentVectorEnv`: E learned envs as one batch.

TorchRL's ``PettingZooWrapper`` steps a ParallelEnv one at a time; this env steps all E at
once with tensors (the vector env's speed), in TorchRL's multi-agent layout:

- ``("agents", "observation")`` [E, N, F], ``("agents", "action_mask")`` [E, N, A] bool,
  ``("agents", "action")`` [E, N] (categorical, masked), ``("agents", "reward")`` [E, N, 1]
  (the team reward for every agent), ``("agents", "uncertainty")`` [E, N] (the model's doubt),
  ``"state"`` [E, S] for centralized critics, ``done`` / ``terminated`` / ``truncated`` [E, 1].
- ``action_spec.rand()`` samples available actions only (its mask follows each step), so
  random rollouts never pick masked actions.
- Episode ends: the step returns the observation the episode ended on; the next ``reset``
  with a ``"_reset"`` mask (what TorchRL's collectors send) starts those envs afresh. The
  vector env has already drawn their new start states, so that reset costs nothing.

TorchRL is an optional dependency (extra ``torchrl``); importing this module needs it.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from latentworld.env.vector import LatentVectorEnv


class LatentTorchRLEnv(EnvBase):
    """TorchRL view of a learned vector env (group ``"agents"``)."""

    def __init__(self, venv: LatentVectorEnv):
        E, N, A = venv.num_envs, venv.n_agents, venv.n_actions
        super().__init__(batch_size=torch.Size([E]), device=venv.device)
        self.venv = venv
        self.n_agents, self.n_actions = N, A
        self.observation_spec = Composite(
            agents=Composite(
                observation=Unbounded((E, N, venv.obs_dim), device=self.device),
                action_mask=Categorical(2, (E, N, A), dtype=torch.bool, device=self.device),
                uncertainty=Unbounded((E, N), device=self.device),
                shape=(E, N)),
            state=Unbounded((E, venv.state_dim), device=self.device),
            shape=(E,))
        self.action_spec = Composite(
            agents=Composite(action=Categorical(A, (E, N), dtype=torch.int64, device=self.device), shape=(E, N)),
            shape=(E,))
        self.reward_spec = Composite(
            agents=Composite(reward=Unbounded((E, N, 1), device=self.device), shape=(E, N)), shape=(E,))
        self.done_spec = Composite(
            done=Bounded(0, 1, (E, 1), dtype=torch.bool, device=self.device),
            terminated=Bounded(0, 1, (E, 1), dtype=torch.bool, device=self.device),
            truncated=Bounded(0, 1, (E, 1), dtype=torch.bool, device=self.device),
            shape=(E,))
        self._next = None  # the vector env's latest output: first steps of auto-reset episodes

    def _obs_td(self, obs, mask, state, unc) -> TensorDict:
        E, N = self.batch_size[0], self.n_agents
        self.full_action_spec["agents", "action"].update_mask(mask.bool().clone())  # rand() respects masks
        agents = TensorDict({"observation": obs.float(), "action_mask": mask.bool(), "uncertainty": unc.float()},
                            batch_size=(E, N), device=self.device)
        return TensorDict({"agents": agents, "state": state.float()}, batch_size=(E,), device=self.device)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:
        partial = tensordict is not None and "_reset" in tensordict.keys() and self._next is not None
        if not partial:
            out = self.venv.reset()
            self._next = out
        out = self._next  # done envs already hold their next episode's first step
        td = self._obs_td(out.obs, out.action_mask, out.state, out.info["uncertainty"]
                          if "uncertainty" in out.info else torch.zeros(out.obs.shape[:2], device=self.device))
        flags = torch.zeros(self.batch_size[0], 1, dtype=torch.bool, device=self.device)
        td.update({"done": flags, "terminated": flags.clone(), "truncated": flags.clone()})
        return td

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        acts = tensordict.get(("agents", "action"))  # [E, N]
        if acts.dim() == 3:  # one-hot actions
            acts = acts.argmax(-1)
        out = self.venv.step(acts.long())
        self._next = out
        done = (out.terminated | out.truncated)[:, None]  # [E, 1]
        # the step's own observation: final_obs where an episode ended, else the next one
        mask = torch.where(done[..., None], out.info["final_action_mask"], out.action_mask)  # [E, N, A]
        state = torch.where(done, out.final_state, out.state)
        td = self._obs_td(out.final_obs, mask, state, out.info["uncertainty"])
        # the next action is for the next episode's first step where one just ended
        self.full_action_spec["agents", "action"].update_mask(out.action_mask.bool().clone())
        reward = out.reward[:, None, None].expand(-1, self.n_agents, 1)  # [E, N, 1]
        td.set(("agents", "reward"), reward.float().contiguous())
        td.update({"done": done, "terminated": out.terminated[:, None], "truncated": out.truncated[:, None]})
        return td

    def _set_seed(self, seed: int | None) -> None:
        if seed is not None:
            self._next = self.venv.reset(seed=seed)
