#!/usr/bin/env bash
# `pip install "latentworld[smax]"` without constraints.txt (only torch pinned, as a user project
# would have its own torch), then a real SMAX episode, a learned-env episode, an evaluation and a
# tiny loop run. Run from the repository root; prints the versions pip chose.
set -ex
mkdir -p /tmp/latentworld-unpinned
rm -rf /tmp/latentworld-unpinned/unp && python3 -m venv /tmp/latentworld-unpinned/unp
cd "$(dirname "$0")/.." && rm -rf /tmp/latentworld-unpinned/whl2 && /tmp/latentworld-unpinned/unp/bin/pip wheel -q --no-deps -w /tmp/latentworld-unpinned/whl2 . 
/tmp/latentworld-unpinned/unp/bin/pip install -q "torch==2.13.0" "$(ls /tmp/latentworld-unpinned/whl2/latentworld-*.whl)[smax]"
/tmp/latentworld-unpinned/unp/bin/pip freeze | grep -iE "^(numpy|jax|jaxlib|flax|jaxmarl|gymnasium|torch|numba|scipy)=="
cd /tmp && OMP_NUM_THREADS=1 /tmp/latentworld-unpinned/unp/bin/python - <<'PY'
import numpy as np, torch
torch.set_num_threads(1)
import latentworld
from latentworld.metrics import evaluate
env = latentworld.make_real("smax-3m"); obs, infos = env.reset(seed=0); n = 0
while env.agents:
    obs, r, te, tr, infos = env.step({a: env.action_space(a).sample(infos[a]["action_mask"]) for a in env.agents}); n += 1
print("real smax-3m episode", n, "steps")
lenv = latentworld.make("smax-3m", seed=0); obs, infos = lenv.reset(seed=0)
while lenv.agents:
    obs, r, te, tr, infos = lenv.step({a: lenv.action_space(a).sample(infos[a]["action_mask"]) for a in lenv.agents})
print("learned env ok")
print(evaluate("random", "smax-3m", 16))
from latentworld.loop import LoopConfig, run
print(run(LoopConfig(env_steps=600, real_envs=8, model_start=100, model_steps_first=4, imag_envs=8, test_every=0, eval_episodes=4), "/tmp/latentworld-unpinned/unp-run", progress=False))
PY
echo done
