"""WorldModelConfig: the size and loss settings of the bi-level world model (MABL)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

LATENT_KINDS = ("categorical", "gaussian")
FAMILY_REWARD_SCALE = {"flatland": 100.0}  # WorldModelConfig.reward_scale when left None (else 1)


@dataclass
class WorldModelConfig:
    """What to train: the shape of the networks and the weights of the loss terms.

    Every field is a plain JSON scalar, so ``to_dict()`` goes into a checkpoint's
    meta.json unchanged and ``from_dict(to_dict())`` gives an equal config.
    """

    latent: str = "categorical"
    """Latent kind: ``"categorical"`` (``stoch`` one-hot vectors of ``classes`` classes,
    straight-through gradients) or ``"gaussian"`` (``stoch`` diagonal Gaussian dims)."""
    stoch: int = 16
    """Number of categorical variables (categorical) or of Gaussian dimensions (gaussian).
    16 x 16 keeps a 2-core CPU at ~4 training steps/s; MAMBA used 32 x 32 on GPUs (see
    :data:`PRESETS`)."""
    classes: int = 16
    """Classes per categorical variable (ignored by the Gaussian latent)."""
    deter: int = 128
    """GRU hidden size, the same for the agent level and the global level."""
    hidden: int = 128
    """Width of every MLP layer."""
    embed: int = 128
    """Size of the observation and global-state embeddings fed to the posteriors."""
    layers: int = 2
    """Hidden layers of the encoders and of the prediction heads."""
    single_level: bool = False
    """Ablation: no global latent at all. The agent prior conditions on h^a only and the
    continuation / available-action / action heads see agent features only."""
    reward_global: bool = True
    """The reward head reads the full features (h^a, z^a, h^g, z^g) instead of the agent's own
    (h^a, z^a). SMAX's team reward carries a +1 win bonus on the last step, when most of the
    team is often dead: a dead agent's own features cannot tell a win from a loss, so with
    agent features the model predicted 0.59 for a won last step that pays 1.07 (posterior)
    and 0.35 in imagination, and policies trained inside it learned to deal damage, not to
    win. Checkpoints written before this field load with ``False``. Ignored when
    ``single_level`` (there are no global features)."""
    outcome: bool = True
    """Predict how each step ends as an outcome, continue / win / end without a win (cross-entropy
    from the stored ``won``), instead of a continuation probability alone; the reward head then
    learns the reward without the win bonus and a learned bonus is paid with P(win)
    (:mod:`latentworld.model.heads`). The learned env samples the outcome and reports wins.
    Checkpoints written before this field load with ``False``."""
    reward_bins: int = 0
    """0: the reward head regresses symlog(reward) with a squared error. K > 1: a two-hot
    distribution over K bins in symlog space (DreamerV3), zero-initialised."""
    ensemble: int = 5
    """Size of the disagreement ensemble (0: none): small heads that each predict an agent's
    next observation embedding from what its prior sees (h^a and z^g), trained on real data
    from different initialisations. Where they disagree the model is guessing; the learned
    env serves their variance as ``uncertainty`` and can subtract it from the reward (as
    Plan2Explore and mbrl-lib measure model uncertainty). Checkpoints written before this
    field load with 0."""
    ensemble_every: int = 4
    """The ensemble trains on every k-th time step of each training window (a random offset
    per gradient step): its inputs and targets are detached, so thinning its rows changes no
    other gradient and saves most of its cost. 1 trains it on every row."""
    ensemble_scale: float = 1.0
    """Weight of the ensemble's loss (its inputs and targets are detached: it changes no other
    part of the model)."""
    obs_fusion: bool = False
    """GAWM's observation fusion: at the agent posterior, one transformer layer over all agents'
    [h^a, observation embedding] tokens, so each agent's latent is inferred from everyone's
    observations. Agent latents are then centralized: a policy on latent features cannot be
    deployed decentralized (refused with an error); policies read decoded observations, which
    are real ones at execution. Imagination (the priors) is unchanged."""
    fusion_heads: int = 4
    """Attention heads of the fusion layer (must divide ``embed``)."""
    reward_trend: float = 0.0
    """GAWM's reward-trend target: the reward head is trained on each episode's team reward
    smoothed along time by a Gaussian kernel of this width in steps (0: the raw reward), and
    the learned env then serves the trend. Sparse rewards (a win bonus on one step) become a
    ramp that an imagined rollout can reach (:func:`latentworld.data.sampler.reward_trend`)."""
    reward_trend_window: int = 0
    """Half-width of the smoothing window in steps (0: ceil(3 x reward_trend))."""
    kl_balance: float = 0.8
    """KL balancing (DreamerV2): weight of KL(sg(post) || prior), which trains the prior;
    ``1 - kl_balance`` goes to KL(post || sg(prior)), which regularises the posterior."""
    kl_free: float = 1.0
    """Free nats: each KL side is clipped from below at this value per agent and step."""
    kl_scale_agent: float = 1.0
    """Weight of the agent-level KL term KL_a."""
    kl_scale_global: float = 1.0
    """Weight of the global-level KL term KL_g (unused when ``single_level``)."""
    obs_scale: float = 10.0
    """Weight of the observation loss (squared error summed over the obs dims). 10 by default:
    with less, the KL and the other heads dominate and the decoded next observation can be
    worse than copying the last one. The loop sets its own (``latentworld.loop_config.model_config``)."""
    reward_scale: float | None = None
    """Weight of the reward loss (squared error in symlog space). None: the env family's
    default (:data:`FAMILY_REWARD_SCALE`: 100 for Flatland, 1 otherwise), filled in when the
    model is built for an env. Flatland's only rewards are penalties at the step its time limit
    ends the episode; placing them needs the time left, which no other loss term makes the
    latent keep, so at weight 1 the model smears them over every step."""
    cont_scale: float = 1.0
    """Weight of the continuation loss (binary cross-entropy on 1 - terminated)."""
    avail_scale: float = 1.0
    """Weight of the available-actions loss (BCE summed over the actions)."""
    action_scale: float = 1.0
    """Weight of the auxiliary action-decoder loss (cross-entropy)."""
    unimix: float = 0.01
    """Share of a uniform distribution mixed into categorical latent probabilities."""
    min_std: float = 0.1
    """Lower bound of the Gaussian latent's standard deviation."""
    lr: float = 3e-4
    """Adam learning rate of the world model."""
    grad_clip: float = 100.0
    """Gradient-norm clipping threshold."""

    def __post_init__(self) -> None:
        if self.latent not in LATENT_KINDS:
            raise ValueError(f"latent must be one of {LATENT_KINDS}, got {self.latent!r}")
        if isinstance(self.ensemble, bool) or not isinstance(self.ensemble, int) or self.ensemble < 0 \
                or self.ensemble == 1:
            raise ValueError(f"ensemble must be 0 (off) or an int >= 2 (disagreement needs two heads), "
                             f"got {self.ensemble!r}")
        for name in ("stoch", "classes", "deter", "hidden", "embed", "layers", "ensemble_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not 0.0 <= self.kl_balance <= 1.0:
            raise ValueError(f"kl_balance must lie in [0, 1], got {self.kl_balance}")
        if not 0.0 <= self.unimix < 1.0:
            raise ValueError(f"unimix must lie in [0, 1), got {self.unimix}")
        if self.obs_fusion and (self.fusion_heads < 1 or self.embed % self.fusion_heads):
            raise ValueError(f"fusion_heads ({self.fusion_heads}) must be >= 1 and divide embed ({self.embed})")
        if self.reward_trend < 0 or self.reward_trend_window < 0:
            raise ValueError(f"reward_trend and reward_trend_window must be >= 0 (0: off / automatic), got "
                             f"{self.reward_trend} and {self.reward_trend_window}")
        if isinstance(self.reward_bins, bool) or not isinstance(self.reward_bins, int) or self.reward_bins < 0 \
                or self.reward_bins == 1:
            raise ValueError(f"reward_bins must be 0 (squared error) or an int >= 2 (two-hot bins), "
                             f"got {self.reward_bins!r}")
        if self.min_std <= 0:
            raise ValueError(f"min_std must be > 0, got {self.min_std}")
        if self.reward_scale is not None and not self.reward_scale >= 0:  # also refuses NaN
            raise ValueError(f"reward_scale must be >= 0 or None (the env family's default), got {self.reward_scale}")

    def for_env(self, env_id: str) -> WorldModelConfig:
        """This config with ``reward_scale`` filled in for ``env_id`` when it is None."""
        if self.reward_scale is not None:
            return self
        return replace(self, reward_scale=FAMILY_REWARD_SCALE.get(env_id.split("-", 1)[0], 1.0))

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> WorldModelConfig:
        """A named size: ``"cpu"`` (the defaults) or ``"large"`` (MAMBA's SMAC sizes, for GPUs)."""
        if name not in PRESETS:
            raise ValueError(f"unknown model size {name!r}; choose one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    @property
    def latent_size(self) -> int:
        """Length of one flattened latent sample z (stoch*classes, or stoch)."""
        return self.stoch * self.classes if self.latent == "categorical" else self.stoch

    @property
    def feature_size(self) -> int:
        """Length of agent features [h^a, z^a] (and of global features [h^g, z^g])."""
        return self.deter + self.latent_size

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict (what checkpoints store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorldModelConfig:
        known = {f.name for f in fields(cls)}
        d = {"reward_global": False, "ensemble": 0, "outcome": False, **d}  # checkpoints from before these fields
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"WorldModelConfig has no fields {sorted(unknown)}; known fields: {sorted(known)}")
        return cls(**d)


PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {},
    "large": {"stoch": 32, "classes": 32, "deter": 256, "hidden": 256, "embed": 256},
}
