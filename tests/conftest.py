import numpy as np
import pytest


def play_random(env, seed: int, max_steps: int = 10_000):
    """Play one episode with uniformly random available actions; returns (steps, last infos)."""
    rng = np.random.default_rng(seed)
    obs, infos = env.reset(seed=seed)
    steps = 0
    while env.agents and steps < max_steps:
        acts = {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"]))) for a in env.agents}
        obs, rew, term, trunc, infos = env.step(acts)
        steps += 1
    return steps, infos


@pytest.fixture(scope="session")
def smax3m():
    pytest.importorskip("jaxmarl")
    import latentworld

    return latentworld.make_real("smax-3m")
