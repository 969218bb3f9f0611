import subprocess
import sys

import numpy as np
import pytest


def run_cli(*args, check=True):
    """``python -m latentworld.cli ARGS`` in a subprocess (as a user runs it)."""
    proc = subprocess.run([sys.executable, "-m", "latentworld.cli", *args], capture_output=True, text=True,
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


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


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A tiny smax-3m world model trained for 30 steps on 16 random episodes (a few seconds)."""
    pytest.importorskip("jaxmarl")
    from latentworld.data import collect
    from latentworld.model import WorldModelConfig
    from latentworld.model.trainer import TrainConfig, train_model

    root = tmp_path_factory.mktemp("latent")
    collect("smax-3m", root / "data", 16, num_envs=16, seed=0, progress=False)
    train_model(
        root / "data", root / "ckpt", env_id="smax-3m",
        model_config=WorldModelConfig(deter=32, hidden=32, embed=32, stoch=8, classes=8),
        config=TrainConfig(steps=30, batch_size=8, eval_every=30, start_bank=64, holdout_every=4),
        progress=False,
    )
    return root / "ckpt"
