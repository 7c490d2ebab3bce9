import numpy as np, sys, os
sys.path.insert(0, __import__('os').path.dirname(__file__) or '.')
from scipy.optimize import linear_sum_assignment
def load(p):
    a = np.genfromtxt(p, delimiter=',', names=True)
    return np.column_stack([a[n] for n in a.dtype.names])
def std(a): return (a - a.mean(0)) / a.std(0)
def mcc(est, truth):
    c = np.abs(std(est).T @ std(truth) / len(est)); r, k = linear_sum_assignment(-c); return c[r, k].mean()
from sklearn.decomposition import FastICA
for cand in sys.argv[1:]:
    rows = []
    for s in range(10):
        d = f'/tmp/explore/{cand}-{s}/sources.csv'
        if not os.path.exists(d): continue
        b = f'/tmp/blend/nonlinear-{s}'
        t = load(b + '/data/truth.csv'); f = load(b + '/fica.csv'); v = load(b + '/fit/sources.csv')[:, :3]
        c = load(d)[:, :3]
        cf = FastICA(random_state=0, whiten='unit-variance', max_iter=1000).fit_transform(c)
        rows.append([mcc(v, t), mcc(f, t), mcc(c, t), mcc(cf, t)])
    r = np.array(rows); print(cand, len(r), 'shipped fica cand cand+fica'); print(np.round(r, 4)); print('mean', np.round(r.mean(0), 4))
