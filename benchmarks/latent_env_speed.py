"""Speed of the learned env beside real SMAX: env-steps/s and agent-steps/s.

    python benchmarks/latent_env_speed.py            # writes docs/latent_env_speed.md
    python benchmarks/latent_env_speed.py --quick    # fewer steps, 64 and 1024 envs only

The world model is untrained, with the DEFAULT WorldModelConfig for each map's spec: speed
depends on shapes, not on weights. Single envs: random legal actions, only ``step()`` timed
(resets apart); vector envs: random actions (uniform over 0..A-1, masked ones become the
no-op as in training), auto-resets included. CUDA rows appear when a GPU is present.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from latentworld.env import LatentParallelEnv, LatentVectorEnv
from latentworld.model import WorldModel, WorldModelConfig

CLOCK = time.perf_counter  # --cpu-time: time.process_time (this process's CPU seconds)


def _rate(fn, steps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    t = CLOCK()
    for _ in range(steps):
        fn()
    return steps / (CLOCK() - t)


def _single_rate(env, steps: int, warmup: int = 3) -> float:
    """Steps/s of one PettingZoo env: only ``env.step`` is timed (resets are not: an untrained
    model ends its episodes at once, the real env every ~50 steps). Both envs get the same
    random legal actions, drawn from the masks in their infos, outside the timed call."""
    rng = np.random.default_rng(0)
    _, infos = env.reset(seed=0)
    spent = 0.0
    for i in range(warmup + steps):
        if not env.agents:
            _, infos = env.reset()
        acts = {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"]))) for a in env.agents}
        t = CLOCK()
        infos = env.step(acts)[4]
        spent += (CLOCK() - t) if i >= warmup else 0.0
    return steps / spent


def _single_path() -> str:
    from latentworld.env.backends import jit as jit_core

    return "compiled single-env step (numba)" if jit_core.available() else "torch single-env step (no numba)"


def singles(name: str, model: WorldModel, steps: int, rounds: int = 5) -> tuple[float, float]:
    """(real, learned) single-env steps/s: the two envs take turns, ``rounds`` times ``steps``
    steps each, and each keeps its median round, so a load that comes and goes on a shared
    machine weighs on both alike."""
    import latentworld

    real, latent = latentworld.make_real(f"smax-{name}"), LatentParallelEnv(model, seed=0)
    _single_rate(latent, 3)  # the compiled step's first call (compiles when not cached yet)
    r, lt = [], []
    for _ in range(rounds):
        r.append(_single_rate(real, steps))
        lt.append(_single_rate(latent, steps))
    return float(np.median(r)), float(np.median(lt))


def latent_vector(model: WorldModel, num_envs: int, steps: int, device: str) -> float:
    venv = LatentVectorEnv(model, num_envs, device=device, seed=0)
    venv.reset()
    gen = torch.Generator(device=device).manual_seed(0)
    shape = (num_envs, venv.n_agents)

    def step():
        venv.step(torch.randint(0, venv.n_actions, shape, generator=gen, device=device))
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    return _rate(step, steps, warmup=2) * num_envs


def real_batch(name: str, num_envs: int, steps: int) -> float:
    from latentworld.adapters.smax import SMAXBatch

    batch = SMAXBatch(name, num_envs, seed=0)
    batch.reset()
    rng = np.random.default_rng(0)
    N, A = batch.spec.n_agents, batch.spec.n_actions
    return _rate(lambda: batch.step(rng.integers(0, A, (num_envs, N))), steps) * num_envs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer steps; vector sizes 64 and 1024 only")
    p.add_argument("--maps", default="3m,3s5z")
    p.add_argument("--out", default="docs/latent_env_speed.md")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: on a shared 2-core machine, intra-op threads "
                        "contend with other processes and one env step slows ~100x)")
    p.add_argument("--cpu-time", action="store_true",
                   help="time by this process's CPU seconds instead of the wall clock: steadier when other "
                        "jobs share the machine (JAX's and torch's worker threads count too)")
    args = p.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.cpu_time else time.perf_counter
    torch.set_num_threads(args.threads)
    from latentworld.adapters.smax import smax_spec

    sizes = (64, 1024) if args.quick else (64, 1024, 8192)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []  # (map, what, device, env-steps/s, agent-steps/s)
    for name in args.maps.split(","):
        spec = smax_spec(name)
        N = spec.n_agents
        torch.manual_seed(0)
        model = WorldModel(spec, WorldModelConfig()).eval()
        real, latent = singles(name, model, 200 if args.quick else 1000)
        rows.append((name, "real SMAX, one env (make_real)", "cpu", real, real * N))
        r = real_batch(name, 256, 10 if args.quick else 40)
        rows.append((name, "real SMAX, 256 envs vmapped (SMAXBatch)", "cpu", r, r * N))
        rows.append((name, "LatentParallelEnv, one env", "cpu", latent, latent * N))
        for dev in devices:
            m = model.to(dev)
            for E in sizes:
                steps = max(3, min(200, 40_000 // E)) if dev == "cpu" else 50
                r = latent_vector(m, E, steps // (2 if args.quick else 1), dev)
                rows.append((name, f"LatentVectorEnv, {E} envs", dev, r, r * N))
            model = model.to("cpu")
        print(f"done {name}", flush=True)

    cfg = WorldModelConfig()
    lines = [
        "# Learned-env speed",
        "",
        f"Measured by `benchmarks/latent_env_speed.py{' --quick' if args.quick else ''}"
        f"{' --cpu-time' if args.cpu_time else ''}` on {platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, {_single_path()}"
        + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU") + ". "
        f"Untrained model, default config (deter {cfg.deter}, hidden {cfg.hidden}, "
        f"latent {cfg.stoch}x{cfg.classes}). One env: random legal actions, `step()` timed alone (resets "
        f"apart: the untrained model ends an episode at every step), the real and the learned env taking "
        f"turns for 5 rounds, median round; vector envs: random actions, "
        f"auto-resets included"
        + ("; rates in this process's CPU time (other jobs shared the machine)." if args.cpu_time else "."),
        "",
        "| map | env | device | env-steps/s | agent-steps/s | vs real single env |",
        "|---|---|---|---:|---:|---:|",
    ]
    base = {name: r for name, what, _, r, _ in rows if what.startswith("real SMAX, one")}
    for name, what, dev, r, ra in rows:
        lines.append(f"| {name} | {what} | {dev} | {r:,.0f} | {ra:,.0f} | {r / base[name]:.1f}x |")
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
