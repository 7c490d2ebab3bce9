import numpy as np, sys
sys.path.insert(0, __import__('os').path.dirname(__file__) or '.')
from blend import load, std, mcc
nu = np.random.default_rng(0).standard_normal(1_000_000); Gnu = np.mean(np.log(np.cosh(nu)))
def negent(s):
    s = std(s); return np.mean((np.mean(np.log(np.cosh(s)), 0) - Gnu) ** 2)
def kurt(s):
    s = std(s); return np.mean(np.abs(np.mean(s ** 4, 0) - 3))
for sc in ['mlp', 'nonlinear']:
    out = []
    for s in range(10):
        d = f'/tmp/blend/{sc}-{s}'
        t = load(d + '/data/truth.csv'); f = load(d + '/fica.csv'); v = load(d + '/fit/sources.csv')[:, :3]
        mv, mf = mcc(v, t), mcc(f, t)
        nv, nf, kv, kf = negent(v), negent(f), kurt(v), kurt(f)
        out.append([mv, mf, nv * 1e3, nf * 1e3, mv if nv > nf else mf, mv if kv > kf else mf])
    o = np.array(out); print(sc, 'vae fica negV negF pick_neg pick_kurt'); print(np.round(o, 4)); print('mean', np.round(o.mean(0), 4))
