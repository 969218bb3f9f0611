"""Win-bonus diagnosis: predicted vs true team reward and continuation on the last step of held-out
won and lost episodes (posterior, prior mode, sampled prior) and false terminations elsewhere.

    python benchmarks/diagnostics/reward_at_win.py RUN_DIR   # a run or fixed_model_prep.py output
"""
import sys

import numpy as np
import torch

torch.set_num_threads(1)
from latentworld.model import ModelTrainer, TrainConfig
from latentworld.model.trainer import batch_to_torch

run = sys.argv[1]
from latentworld.model import WorldModelConfig, load_model

tr = ModelTrainer(f'{run}/data', f'{run}/model', config=TrainConfig(batch_size=16, seq_len=20), model_config=WorldModelConfig.from_dict(load_model(f'{run}/model')[1]['config']))
m, s = tr.model, tr.held_s
eps = np.arange(len(s))[-200:]
T = int(s.lengths[eps].max())
batch = s.gather(eps, np.zeros(len(eps), int), seq_len=T)
b = batch_to_torch(batch, 'cpu')
with torch.no_grad():
    states, _ = m.observe(b)
    heads = m.predict_heads(states, obs=False)
    L = s.lengths[eps]  # rows?
    print('lengths', L[:5], 'valid sums', batch['valid'].sum(1)[:5])
    last = batch['valid'].sum(1) - 1
    idx = np.arange(len(eps))
    r_true = batch['rewards'][idx, last].mean(-1)
    won = r_true > 0.9
    r_post = heads['reward'][idx, last].mean(-1).numpy()
    c_post = heads['cont'][idx, last].numpy()
    # prior one step: from posterior at last-1 with real actions
    prev = states.map(lambda x: x[idx, last - 1])
    acts = b['actions'][idx, last - 1]
    out = m.step(prev, acts, sample=False)
    r_prior = out[3].mean(-1).numpy(); c_prior = out[4].numpy()
    print('won', won.sum(), 'lost', (~won).sum())
    for name, w in (('won', won), ('lost', ~won)):
        print(name, 'true r %.2f post r %.2f prior r %.2f | post cont %.2f prior cont %.2f' % (
            r_true[w].mean(), r_post[w].mean(), r_prior[w].mean(), c_post[w].mean(), c_prior[w].mean()))
    # non-terminal rows
    nt = batch['valid'] & ~batch['terminated'] & ~batch['truncated']
    print('nonterminal true r %.3f post r %.3f post cont %.3f' % (batch['rewards'].mean(-1)[nt].mean(), heads['reward'].mean(-1).numpy()[nt].mean(), heads['cont'].numpy()[nt].mean()))
    rs, cs = [], []
    for k in range(20):
        out = m.step(prev, acts, sample=True)
        rs.append(out[3].mean(-1).numpy()); cs.append(out[4].numpy())
    rs, cs = np.stack(rs), np.stack(cs)  # [20, B]
    for name, w in (('won', won), ('lost', ~won)):
        print(name, 'sampled prior r mean %.2f  frac r>0.7 %.2f  frac term %.2f' % (rs[:, w].mean(), (rs[:, w] > 0.7).mean(), (cs[:, w] < 0.5).mean()))
    # nonterminal transitions: false termination rate
    prevs = states.map(lambda x: x[:, :-1]); a2 = b['actions'][:, :-1]
    nt2 = (batch['valid'][:, 1:] & ~batch['terminated'][:, 1:] & ~batch['truncated'][:, 1:])
    flat = prevs.map(lambda x: x.reshape(-1, *x.shape[2:]))
    out = m.step(flat, a2.reshape(-1, a2.shape[-1]), sample=True)
    c = out[4].numpy().reshape(nt2.shape); r = out[3].mean(-1).numpy().reshape(nt2.shape)
    print('nonterminal sampled prior: false term rate %.3f, r>0.7 rate %.3f' % ((c[nt2] < 0.5).mean(), (r[nt2] > 0.7).mean()))
