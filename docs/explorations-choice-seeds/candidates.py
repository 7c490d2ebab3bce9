import numpy as np, sys, os
sys.path.insert(0, os.path.dirname(__file__) or '.')
from blend import load, mcc
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
