"""LoopConfig: every setting of the MABL loop and its model-free baseline (``latentworld run``).

The loop itself is in :mod:`latentworld.loop`, which re-exports this class.
"""

from __future__ import annotations

from dataclasses import dataclass

from latentworld.algo_names import ALGOS
from latentworld.model import WorldModelConfig


@dataclass
class LoopConfig:
    """Budget and schedule of a MABL run. Defaults are sized for one CPU core on smax-3m
    (50k real steps in about an hour)."""

    env_id: str = "smax-3m"
    """Real environment id."""
    env_steps: int = 50_000
    """Real environment steps in all (random warm-up included; test episodes are not)."""
    algo: str = "mappo"
    """Learner: mappo, or qmix / vdn / qplex (the value-decomposition learner's mixers)."""
    model_free: bool = False
    """Baseline: train the learner on the real env only, no world model."""
    seed: int = 0
    """Seeds collection, model training and the learner."""
    warmup_episodes: int = 64
    """Random-policy episodes before the first world model (3m: ~1.1k steps; MAMBA starts
    training once its buffer holds 500 steps)."""
    collect_episodes: int = 32
    """Real episodes collected (vmapped on SMAX) per iteration, between two training rounds:
    ~0.6k steps on 3m, so a 50k run has ~85 rounds (MAMBA trains after every episode; a CPU
    pays a fixed cost per round, so episodes come in small batches instead)."""
    real_envs: int = 64
    """Real SMAX envs stepped together (the model-free baseline's batch; collection uses
    ``min(real_envs, collect_episodes)``)."""
    model_steps_first: int = 600
    """World-model gradient steps on the warm-up data."""
    model_seqs_per_step: float = 4.0
    """World-model training sequences (of 20 rows) per new real env step: 4 is 0.25 gradient
    steps of batch 16 per real step, ~3x the earlier loop's 1.4 sequences per step and what
    one CPU core affords in an hour (MAMBA: ~130 sequences per step on a GPU)."""
    imag_per_step: float = 8.0
    """Imagined env steps of policy training per new real env step: 8 is ~4.5k imagined
    steps per round on 3m, about one MAPPO iteration of 10 gradient updates (128 envs x 32
    steps). More let the policy exploit the model on smax-3m seed 0 (50k: 57% greedy test win
    with 8, 42% with 32, whose curve fell from 56% at 10k to 28%); seed 1 with 8 ended at
    26%, so two seeds do not settle it."""
    imag_envs: int = 128
    """Envs of the learned vector env."""
    horizon: int = 15
    """Imagination horizon (MAMBA and MARIE: 15)."""
    start_episodes: int = 64
    """Real episodes re-encoded into imagination starts each round: every non-final row,
    each with its episode's whole history (3m: ~1k starts)."""
    policy_obs: str = "decoded"
    """What the policy reads. ``"decoded"``: the model's predicted observations in imagination
    and the real ones at execution (MARIE's choice): the policy's input space stays fixed
    while the model keeps training, and it is deployed without the model. ``"latent"``: agent
    features [h^a, z^a] (each agent encodes its own observations through the model at
    execution); those drift as the model trains. smax-3m, 50k, seed 0, 32 imagined steps per
    real step: decoded 42% greedy test win; latent 16% at 20k and falling (stopped), latent
    with entropy 0.01 37%."""
    entropy_coef: float = 0.001
    """MAPPO's entropy bonus (MAMBA and MARIE: 0.001). One policy learns for the whole run,
    so it needs to sharpen; 0.01 kept the earlier fresh-each-round policies near-uniform when
    sampled (they won 0-9% of the episodes they collected, 13-57% greedy)."""
    collect_epsilon: float | None = None
    """Collection policy. None: sample from the policy (stochastic). A number: greedy actions,
    each agent's replaced with this probability by a uniformly random available action."""
    test_every: int = 5_000
    """Greedy test episodes every this many real steps (0: none); the model and the policy
    are saved then too."""
    test_episodes: int = 32
    """Real episodes per periodic test (greedy, decentralized, outside the budget)."""
    eval_episodes: int = 100
    """Real episodes played greedily by the final policy once the budget is spent (test
    episodes: not counted in ``env_steps``, as in the MAMBA and MAPPO papers); 0 skips."""
    single_level: bool = False
    """Ablation: the world model without its global level."""
    real_updates: bool = False
    """After each collection, one PPO update (MAPPO only) on the real episodes just collected,
    with their real rewards, before the policy trains in imagination again: the policy learns
    from the real env as the model-free baseline does, and imagination adds to it. The
    critic reads the model's posterior global features, as in imagination."""
    uncertainty_penalty: float = 0.0
    """Imagined rewards minus this times the model's uncertainty (its disagreement ensemble,
    ``LatentEnvConfig.uncertainty_penalty``), in absolute reward units; added to the weight
    that ``relative_penalty`` sets. The earlier default, 10, held smax-3m's policy (48% median
    final greedy win, 5 seeds) but on smax-2s3z, whose reward per step is 10x smaller, the
    loop's imagined return stayed at -0.5 and its greedy test win at 0% to 56k real steps."""
    relative_penalty: float = 0.2
    """The uncertainty penalty in units of the real data (``latentworld.model.uncertainty``):
    every round the weight is this × (mean |team reward| per real step) / (the model's mean
    uncertainty about real steps), both measured on ``start_episodes`` real episodes, so it
    means the same on every map and at every stage of the model. 0 turns it off. On fixed
    50k-step models, fresh policies trained in imagination for 120-160k steps: without a
    penalty both maps rose to 42-47% real win and fell to 9-13% as the policy exploited the
    model; on smax-2s3z 0.2 (an absolute 2.7 there) held 53%, 49%, 47% at 40k, 81k, 122k
    imagined steps, against 0% with the absolute 10 and 34-20-22% with 1. On smax-3m 0.2 is
    an absolute ~20 (10 there froze the policy at 42%; 40 let it fall to 30%)."""
    reward_global: bool = True
    """The world model's reward head reads the global features too (``WorldModelConfig.
    reward_global``): with agent features only, SMAX's win bonus was predicted at a third of
    its size in imagination, so policies learned to deal damage rather than to win."""
    reward_scale: float = 1.0
    """Weight of the world model's reward loss (``WorldModelConfig.reward_scale``). SMAX's win
    bonus is one large reward on one step of each won episode; at weight 1 the model predicted
    0.85 for it from the posterior and 0.50 in sampled imagination (true 1.07), while the
    observation loss (summed over 75 dims on 3m) dominates the total."""
    obs_fusion: bool = False
    """GAWM's observation fusion in the world model's posterior (``WorldModelConfig.obs_fusion``):
    each agent's latent is inferred from every agent's observations; needs
    ``policy_obs="decoded"`` (latent features could not be computed decentralized)."""
    reward_trend: float = 0.0
    """GAWM's reward trend (``WorldModelConfig.reward_trend``): the reward head learns the team
    reward smoothed along time with a Gaussian of this width in steps; 0 keeps the raw reward."""
    dual_buffer: int = 0
    """GAWM's dual buffer (MAPPO, ``MAPPOConfig.dual_buffer``): each policy update also trains on
    the last K imagined rollouts. The replay learners (qmix, vdn, qplex, mfq, mfac) keep every
    imagined step in their replay buffer already (``buffer_size``), so it applies to mappo only."""
    workers: int = 0
    """Collect the real episodes with this many Ray workers (one CPU each; needs the ``ray``
    extra): each round's policy is saved, put once in Ray's object store, and played by every
    worker (:class:`~latentworld.execution.ShippedPolicy`). 0 collects in this process. Needs
    ``policy_obs="decoded"``; the model-free baseline learns on its own vector env."""
    ray_address: str | None = None
    """A running Ray cluster for ``workers`` (default: a local one with ``workers`` CPUs)."""
    model_size: str = "cpu"
    """World-model size preset: cpu (WorldModelConfig defaults) or large (MAMBA's, for GPUs)."""
    device: str = "cpu"
    """cpu or cuda."""

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"algo must be one of {ALGOS}, got {self.algo!r}")
        if self.env_steps < 1:
            raise ValueError(f"env_steps must be >= 1, got {self.env_steps}")
        for name in ("warmup_episodes", "collect_episodes", "real_envs", "imag_envs", "horizon",
                     "start_episodes", "test_episodes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("model_seqs_per_step", "imag_per_step", "entropy_coef", "test_every", "eval_episodes",
                     "uncertainty_penalty", "relative_penalty", "reward_scale", "reward_trend"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        WorldModelConfig.preset(self.model_size)  # validates the name
        if self.policy_obs not in ("latent", "decoded"):
            raise ValueError(f"policy_obs must be 'latent' or 'decoded', got {self.policy_obs!r}")
        if self.obs_fusion and self.policy_obs == "latent":
            raise ValueError("obs_fusion makes agent latents depend on every agent's observations, so a policy on "
                             "them cannot act decentralized; use policy_obs='decoded' with obs_fusion")
        if self.collect_epsilon is not None and not 0.0 <= self.collect_epsilon <= 1.0:
            raise ValueError(f"collect_epsilon is a probability in [0, 1] (or None), got {self.collect_epsilon}")
        if self.real_updates and (self.algo != "mappo" or self.collect_epsilon is not None or self.model_free):
            raise ValueError("real_updates is an on-policy MAPPO update on the MABL loop's own collected episodes: "
                             "it needs algo='mappo', collect_epsilon=None and model_free=False")
        if self.dual_buffer < 0:
            raise ValueError(f"dual_buffer must be >= 0, got {self.dual_buffer}")
        if self.dual_buffer and self.algo != "mappo":
            raise ValueError(f"dual_buffer is for mappo: {self.algo} already keeps imagined steps in its replay "
                             "buffer (its config's buffer_size)")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0: collect in this process), got {self.workers}")
        if self.workers and (self.model_free or self.policy_obs != "decoded"):
            raise ValueError("workers collect the MABL loop's episodes with a policy on real observations: they need "
                             "model_free=False and policy_obs='decoded' (a latent policy would need the world model "
                             "in every worker)")
        if self.collect_epsilon is not None and self.model_free:
            raise ValueError("collect_epsilon is for the MABL loop; the model-free baseline collects with its "
                             "own on-policy learner, so leave collect_epsilon at None with model_free=True")


def model_config(cfg: LoopConfig) -> WorldModelConfig:
    """The loop's world model. Its observation loss keeps weight 1 (``train-model``'s default
    is 10): every sample-efficiency result of the loop was measured with 1."""
    return WorldModelConfig.preset(cfg.model_size, single_level=cfg.single_level, reward_global=cfg.reward_global,
                                   reward_scale=cfg.reward_scale, reward_trend=cfg.reward_trend,
                                   obs_fusion=cfg.obs_fusion, obs_scale=1.0)
