"""The MCC of a uniformly random rotation in 3 dimensions: what any method scores on
rotation-invariant data (Gaussian sources N(0, I) under an orthogonal mixing, where every
rotation of the sources explains the data equally well). MCC as pdgc computes it: the
best one-to-one matching of the absolute Pearson correlations, averaged."""
import itertools
import numpy as np

rng = np.random.default_rng(0)
dim, draws = 3, 100000


def haar_orthogonal(n):
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


perms = list(itertools.permutations(range(dim)))
mcc = np.array([
    max(np.mean([r[i, p[i]] for i in range(dim)]) for p in perms)
    for r in (np.abs(haar_orthogonal(dim)) for _ in range(draws))
])
print(f"random rotation, {dim} dimensions, {draws} draws: MCC {mcc.mean():.4f} ± {mcc.std():.4f}"
      f" (median {np.median(mcc):.4f}, 5 % {np.quantile(mcc, 0.05):.4f}, 95 % {np.quantile(mcc, 0.95):.4f})")
