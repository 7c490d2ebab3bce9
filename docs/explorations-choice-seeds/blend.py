import numpy as np, sys, os
from scipy.optimize import linear_sum_assignment
def load(p):
    a = np.genfromtxt(p, delimiter=',', names=True)
    return np.column_stack([a[n] for n in a.dtype.names])
def std(a): return (a - a.mean(0)) / a.std(0)
def corr(a, b): return std(a).T @ std(b) / len(a)
def mcc(est, truth):
    c = np.abs(corr(est, truth)); r, k = linear_sum_assignment(-c); return c[r, k].mean()
def align(a, ref):
    # permute and sign-flip a's columns to match ref (label-free)
    c = corr(a, ref); r, k = linear_sum_assignment(-np.abs(c))
    out = np.zeros_like(ref)
    for i, j in zip(r, k): out[:, j] = np.sign(c[i, j]) * std(a)[:, i]
    return out
# The helpers above are shared by the other scripts here; this part runs as a script only.
if __name__ == '__main__':
    for sc in sys.argv[1:]:
        rows = []
        for s in range(10):
            d = f'/tmp/blend/{sc}-{s}'
            if not os.path.exists(d + '/fit/sources.csv'): continue
            t = load(d + '/data/truth.csv'); f = load(d + '/fica.csv')
            v = load(d + '/fit/sources.csv'); v = v[:, :t.shape[1]]
            va = align(v, f)
            res = [mcc(v, t), mcc(f, t)] + [mcc(w * va + (1 - w) * std(f), t) for w in (0.25, 0.5, 0.75)]
            rows.append(res)
        r = np.array(rows)
        print(sc, len(r), 'vae fica b25 b50 b75'); print(np.round(r, 4)); print('mean', np.round(r.mean(0), 4))
        print('b50 - fica', np.round(r[:, 3] - r[:, 1], 4), 'wins', (r[:, 3] > r[:, 1] + 1e-3).sum())
