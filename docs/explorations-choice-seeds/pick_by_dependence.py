import numpy as np, sys
sys.path.insert(0, __import__('os').path.dirname(__file__) or '.')
from blend import load, std, mcc
def dcor(a, b):
    def cen(x):
        d = np.abs(x[:, None] - x[None, :]); return d - d.mean(0) - d.mean(1)[:, None] + d.mean()
    A, B = cen(a), cen(b)
    return np.sqrt(max((A * B).mean(), 0) / np.sqrt((A * A).mean() * (B * B).mean()))
def dep(s):
    s = std(s)[::5][:1000]; n = s.shape[1]
    return np.mean([dcor(s[:, i], s[:, j]) for i in range(n) for j in range(i + 1, n)])
for sc in ['mlp', 'nonlinear']:
    out = []
    for s in range(10):
        d = f'/tmp/blend/{sc}-{s}'
        t = load(d + '/data/truth.csv'); f = load(d + '/fica.csv'); v = load(d + '/fit/sources.csv')[:, :3]
        mv, mf, dv, df = mcc(v, t), mcc(f, t), dep(v), dep(f)
        out.append([mv, mf, dv, df, mv if dv < df else mf])
    o = np.array(out); print(sc); print(np.round(o, 4)); print('mean', np.round(o.mean(0), 4))
