"""LoopConfig: every setting of the loop and its model-free baseline (``latentworld run``).

The loop itself is in :mod:`latentworld.loop`, which re-exports this class.
"""

from __future__ import annotations

from dataclasses import dataclass

from latentworld.algos.registry import ALGOS
from latentworld.model import WorldModelConfig


@dataclass
class LoopConfig:
    """Budget and schedule of a run. Each round is one iteration of the model-free learner on
    the real env, then world-model training, then imagined iterations of the same learner;
    with ``imag_ratio=0`` (or ``model_free``) a run is the model-free baseline."""

    env_id: str = "smax-3m"
    """Real environment id."""
    env_steps: int = 50_000
    """Real environment steps in all (greedy test episodes are not counted)."""
    algo: str = "mappo"
    """Learner: mappo, or qmix / vdn / qplex (value decomposition), or mfq / mfac (mean field)."""
    model_free: bool = False
    """The baseline: the same rounds of real learning, no world model and no data kept."""
    seed: int = 0
    """Seeds the real envs, the learner, the world model and imagination."""
    real_envs: int = 64
    """Real envs stepped together (vmapped on SMAX); one MAPPO iteration is ``real_envs`` x its
    rollout length (32) real steps. Fewer envs mean more updates per real step, which is what
    a small budget needs (the choice is measured in the docs' design page)."""
    entropy_coef: float = 0.01
    """MAPPO's entropy bonus, the model-free baseline's (MAPPOConfig default); imagined updates
    use it too, so extra updates do not sharpen the policy faster per update."""
    imag_ratio: float = 2.0
    """Imagined learner iterations per real one, when the model is trusted fully (scaled down by
    the trust score). One imagined MAPPO iteration is ``imag_envs`` x 32 imagined steps. 0: no
    imagination (the world model still trains and is scored; with ``model_free`` it does not)."""
    imag_envs: int = 128
    """Envs of the learned vector env."""
    horizon: int | None = None
    """Imagination horizon. None: MATWM's rule by team size (15 for up to 3 agents, 12 for 4-6,
    8 for 7 or more): larger teams compound the model's errors faster."""
    model_seqs_per_step: float = 2.0
    """World-model training sequences (of 20 rows) per new real step."""
    model_batch: int = 16
    """Sequences per world-model gradient step (the sequences per real step stay
    ``model_seqs_per_step``: a larger batch takes fewer, cheaper-per-row steps)."""
    model_obs_scale: float = 10.0
    """Weight of the world model's observation loss (``WorldModelConfig.obs_scale``), the same as
    ``train-model``'s: on fixed smax-3m data it gave the best H-step reward skill of the variants
    measured (0.65 against 0.54 with weight 1; docs/fidelity.md, one seed)."""
    model_outcome: bool = True
    """The world model predicts each step's outcome, continue / win / end without a win, and pays
    a learned win bonus with P(win) (``WorldModelConfig.outcome``)."""
    model_steps_first: int = 600
    """Gradient steps of the first world model, trained once ``model_start`` real steps exist."""
    model_start: int = 2_000
    """Real steps collected before the first world model (the model-free rounds before it are
    the warm-up; MAMBA starts training at 500 buffered steps)."""
    recency_half_life: float = 20_000.0
    """World-model replay prefers recent data: an episode's weight halves for every this many
    real steps collected after it (MATWM). 0: uniform replay."""
    oracle: bool = False
    """Diagnostic: the imagined iterations (``imag_ratio`` per round, no world model) run in a
    second real vector env of ``imag_envs`` envs whose steps are not counted in the budget, so
    a run measures what a perfect world model could give this learner at this schedule."""
    oracle_branch: bool = False
    """With ``oracle``: the uncounted real rollouts branch from the states the round's real rollout
    passed through and are cut after the imagination horizon (the learner bootstraps there), the
    shape of imagined rollouts with a perfect model (batched real envs, SMAX, only)."""
    trust: bool = True
    """Scale each round's imagined iterations by the model's reward skill on the fresh real
    episodes, measured before it trains on them (:func:`latentworld.model.trust.score_model`):
    ``clip(skill / trust_full, 0, 1)``. False: always ``imag_ratio``."""
    trust_samples: int = 4
    """Sampled model rollouts per real start for the trust score and the doubt limits: imagination
    samples its latents, so the score is the expectation over sampled rollouts (the mode alone
    predicts a win within the horizon all or nothing)."""
    start_history: int | None = None
    """Rows of real history each imagination start (and each scored start) is encoded from: None,
    the whole episode so far; k, at most k rows before it from a zero state, as the model's
    training windows (20 rows) see. Chosen by ``benchmarks/fidelity.py`` (docs/fidelity.md)."""
    trust_full: float = 0.5
    """Reward skill (1 - MSE / variance of the H-step return) at which imagination runs in full."""
    doubt_quantile: float | None = 0.95
    """Cut each imagined rollout at the step k where the ensemble's disagreement (over the agents
    the model holds alive) passes step k's limit: this quantile of the running maximum of the
    disagreement along sampled rollouts of the fresh real episodes, measured before the model
    trains on them (so a real-like rollout is cut with probability 1 - this over the whole
    horizon); the learner bootstraps from its critic there. None: only the horizon cuts."""
    uncertainty_penalty: float = 0.0
    """Imagined rewards minus this times the model's uncertainty (absolute reward units); off by
    default: a penalty that outgrows the reward teaches the policy to stay where the model is
    sure instead of to win."""
    relative_penalty: float = 0.0
    """The penalty in units of the real data (``latentworld.model.uncertainty``): this x (mean
    |team reward| per real step) / (the model's mean uncertainty about real steps), re-measured
    every round; added to ``uncertainty_penalty``. 0: off."""
    test_every: int = 5_000
    """Greedy test episodes every this many real steps (0: none); model and policy are saved then."""
    test_episodes: int = 100
    """Real episodes per periodic test (greedy, decentralized, outside the budget)."""
    eval_episodes: int = 100
    """Real episodes played greedily by the final policy once the budget is spent; 0 skips."""
    single_level: bool = False
    """Ablation: the world model without its global level."""
    reward_global: bool = True
    """The reward head reads the global features too (``WorldModelConfig.reward_global``)."""
    reward_scale: float = 1.0
    """Weight of the world model's reward loss (``WorldModelConfig.reward_scale``)."""
    obs_fusion: bool = False
    """GAWM's observation fusion in the world model's posterior (``WorldModelConfig.obs_fusion``)."""
    reward_trend: float = 0.0
    """GAWM's reward trend (``WorldModelConfig.reward_trend``); 0 keeps the raw reward."""
    dual_buffer: int = 0
    """GAWM's dual buffer (MAPPO only, ``MAPPOConfig.dual_buffer``)."""
    model_size: str = "cpu"
    """World-model size preset: cpu (WorldModelConfig defaults) or large (MAMBA's, for GPUs)."""
    device: str = "cpu"
    """cpu or cuda."""

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"algo must be one of {ALGOS}, got {self.algo!r}")
        if self.env_steps < 1:
            raise ValueError(f"env_steps must be >= 1, got {self.env_steps}")
        if self.start_history is not None and int(self.start_history) < 1:
            raise ValueError(f"start_history must be >= 1 or None (the whole episode), got {self.start_history}")
        for name in ("real_envs", "imag_envs", "test_episodes", "trust_samples", "model_batch"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.horizon is not None and int(self.horizon) < 1:
            raise ValueError(f"horizon must be >= 1 or None (by team size), got {self.horizon}")
        for name in ("imag_ratio", "model_seqs_per_step", "model_steps_first", "model_start", "recency_half_life",
                     "entropy_coef", "test_every", "eval_episodes", "uncertainty_penalty", "relative_penalty",
                     "reward_scale", "reward_trend", "dual_buffer", "model_obs_scale"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.trust_full > 0:
            raise ValueError(f"trust_full must be > 0, got {self.trust_full}")
        if self.doubt_quantile is not None and not 0.0 < self.doubt_quantile <= 1.0:
            raise ValueError(f"doubt_quantile must be in (0, 1] or None (no cut), got {self.doubt_quantile}")
        WorldModelConfig.preset(self.model_size)  # validates the name
        if self.oracle and self.model_free:
            raise ValueError("oracle and model_free exclude each other: the oracle is the loop with a perfect "
                             "model; model_free has no imagined iterations")
        if self.oracle_branch and not self.oracle:
            raise ValueError("oracle_branch shapes the oracle's rollouts: set oracle too")
        if self.dual_buffer and self.algo != "mappo":
            raise ValueError(f"dual_buffer is for mappo: {self.algo} already keeps imagined steps in its replay "
                             "buffer (its config's buffer_size)")

    def imagination_horizon(self, n_agents: int) -> int:
        """``horizon``, or MATWM's rule for a team of ``n_agents``."""
        from latentworld.model.fidelity import default_horizon

        return int(self.horizon) if self.horizon is not None else default_horizon(n_agents)


def model_config(cfg: LoopConfig) -> WorldModelConfig:
    """The loop's world model (the preset with the loop's model fields)."""
    return WorldModelConfig.preset(cfg.model_size, single_level=cfg.single_level, reward_global=cfg.reward_global,
                                   reward_scale=cfg.reward_scale, reward_trend=cfg.reward_trend,
                                   obs_fusion=cfg.obs_fusion, obs_scale=cfg.model_obs_scale,
                                   outcome=cfg.model_outcome)
