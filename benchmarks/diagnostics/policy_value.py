"""Does the model rank policies? Imagined return of a policy (from episode starts, horizon 40, and
from history starts, horizon 15, with and without the uncertainty penalty) beside its real return.

    python benchmarks/diagnostics/policy_value.py RUN_DIR POLICY_DIR
    # POLICY_DIR: e.g. the policy/ of a model-free run of 400k steps:
    python -c "from latentworld.loop import LoopConfig, run; run(LoopConfig(env_id=\"smax-3m\", env_steps=400000, model_free=True, seed=0, test_every=25000), \"runs/mf400/s0\")"
"""
import sys

import numpy as np
import torch

torch.set_num_threads(1)
from latentworld import make_vec
from latentworld.algos import load_policy
from latentworld.metrics import evaluate
from latentworld.model import ModelTrainer, TrainConfig, WorldModelConfig, load_model

run = sys.argv[1]
mcfg = WorldModelConfig.from_dict(load_model(f'{run}/model')[1]['config'])
tr = ModelTrainer(f'{run}/data', f'{run}/model', config=TrainConfig(batch_size=16, seq_len=20), model_config=mcfg)
m = tr.model
s = tr.train_s; eps = np.random.default_rng(0).choice(len(s), 256, replace=False)
b = m._inputs(s.gather(eps, np.zeros(len(eps), int), seq_len=2))
with torch.no_grad():
    st, _ = m.observe(b)
starts = st.map(lambda x: x[:, 0])
def imagined(policy, det, n=512):
    env = make_vec('smax-3m', m, n, obs='decoded', horizon=40, seed=1)
    env.set_starts(starts)
    o = env.reset(seed=1)
    ret = torch.zeros(n); done = torch.zeros(n, dtype=torch.bool); big = torch.zeros(n, dtype=torch.bool)
    for t in range(40):
        a = policy.act(o.obs, o.action_mask, deterministic=det) if policy is not None else torch.distributions.Categorical(o.action_mask.float()).sample()
        o = env.step(a)
        ret += torch.where(done, 0.0, o.reward); big |= (~done) & (o.reward > 0.5)
        done |= o.terminated | o.truncated
    return ret.mean().item(), big.float().mean().item()
for name, pol in [('random', None), ('mf400k', load_policy(sys.argv[2]))]:
    for det in ([False] if pol is None else [True, False]):
        r, w = imagined(pol, det)
        real = evaluate(pol if pol is not None else 'random', 'smax-3m', 100, seed=5, deterministic=det) if pol is not None else evaluate('random', 'smax-3m', 100, seed=5)
        print(f'{name} det={det}: imagined return {r:.2f} (imagined win-like {w:.2f}) | real return {real.mean_return:.2f} win {real.win_rate:.2f}')
from latentworld.model import encode_history_starts

hs = encode_history_starts(m, tr.train_s, 64, np.random.default_rng(3))
def imagined_h(policy, det, n=1024, lam=0.0):
    env = make_vec('smax-3m', m, n, obs='decoded', horizon=15, seed=2, uncertainty_penalty=lam)
    env.set_starts(hs)
    o = env.reset(seed=2)
    ret = torch.zeros(n); done = torch.zeros(n, dtype=torch.bool)
    for t in range(15):
        a = policy.act(o.obs, o.action_mask, deterministic=det) if policy is not None else torch.distributions.Categorical(o.action_mask.float()).sample()
        o = env.step(a)
        ret += torch.where(done, 0.0, o.reward); done |= o.terminated | o.truncated
    return ret.mean().item()
print('history starts, horizon 15: random %.2f, mf400k greedy %.2f sampled %.2f' % (imagined_h(None, False), imagined_h(load_policy(sys.argv[2]), True), imagined_h(load_policy(sys.argv[2]), False)))
for lam in (10, 40):
    print('lam', lam, 'random %.2f mf400k greedy %.2f' % (imagined_h(None, False, lam=lam), imagined_h(load_policy(sys.argv[2]), True, lam=lam)))
