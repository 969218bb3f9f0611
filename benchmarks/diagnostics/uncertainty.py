"""Model uncertainty: ensemble disagreement on real held-out transitions against imagined rollouts
of a policy trained inside the model (needs a model with an ensemble).

    python benchmarks/diagnostics/uncertainty.py RUN_DIR
"""
import sys

import numpy as np
import torch

torch.set_num_threads(1)
from latentworld import make_vec
from latentworld.algos import MAPPO, MAPPOConfig
from latentworld.model import (
    ModelTrainer,
    TrainConfig,
    WorldModelConfig,
    encode_history_starts,
    load_model,
)

run = sys.argv[1]
mcfg = WorldModelConfig.from_dict(load_model(f'{run}/model')[1]['config'])
tr = ModelTrainer(f'{run}/data', f'{run}/model', config=TrainConfig(batch_size=16, seq_len=20), model_config=mcfg)
m = tr.model
# (a) real held-out transitions
s = tr.held_s; eps = np.arange(len(s))[-200:]; T = int(s.lengths[eps].max())
b = m._inputs(s.gather(eps, np.zeros(len(eps), int), seq_len=T))
with torch.no_grad():
    st, _ = m.observe(b, sample=False)
    post_u = m.disagreement(st)  # posterior states of real data
    prev = st.map(lambda x: x[:, :-1].reshape(-1, *x.shape[2:]))
    out = m.step(prev, b['actions'][:, :-1].reshape(-1, 3), sample=True)
    pri_u = m.disagreement(out[0]).reshape(b['alive'][:, 1:].shape)
alive = b['alive'] & b['valid'][..., None]
print('real: posterior u %.4f  prior-step u %.4f (p90 %.4f, p99 %.4f)' % (post_u[alive].mean(), pri_u[alive[:, 1:]].mean(), pri_u[alive[:, 1:]].quantile(0.9), pri_u[alive[:, 1:]].quantile(0.99)))
# (b) imagination under a policy trained in the model
env = make_vec('smax-3m', m, 128, obs='decoded', horizon=15, seed=0)
L = MAPPO(env.obs_dim, env.state_dim, env.n_agents, env.n_actions, MAPPOConfig(seed=0, entropy_coef=0.001))
rng = np.random.default_rng(0)
for k in range(3):
    us, rs = [], []
    env.set_starts(encode_history_starts(m, tr.train_s, 64, rng))
    o = env.reset(seed=k)
    for t in range(60):
        a = L.act(o.obs, o.action_mask, deterministic=False)
        o = env.step(a)
        us.append(o.info['uncertainty'].mean(-1)); rs.append(o.reward)
    us, rs = torch.stack(us), torch.stack(rs)
    print('policy after %dk imagined steps: imagined u %.4f (p90 %.4f)  big-reward steps u %.4f' % (
        k * 40, us.mean(), us.flatten().quantile(0.9), us[rs > 0.5].mean() if (rs > 0.5).any() else float('nan')))
    for i in range(9):
        env.set_starts(encode_history_starts(m, tr.train_s, 64, rng)); L.learn(env, 4500, progress=False)
