"""Names of the bundled learners, in a module without torch so the CLI can list them cheaply."""

ALGOS = ("mappo", "qmix", "vdn", "qplex", "mfq", "mfac")
"""mappo; value decomposition (qmix, vdn, qplex: the mixer of QLearner); mean-field (mfq, mfac)."""
