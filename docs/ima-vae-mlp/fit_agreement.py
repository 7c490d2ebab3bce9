"""How much the fits on one draw agree with each other: the MCC between the held-out
posterior means (columns z0..z2) of every pair of init seeds. Fits that identified the
sources would agree (near 1); fits that each settled on their own rotation agree only as
much as two random rotations do (0.83 ± 0.08 in 3 dimensions, random_rotation.py).
Usage: fit_agreement.py RUN_DIR (one.sh's d1-s1, holding held_sources-0..9.csv)."""
import glob
import itertools
import sys

import numpy as np


def mcc(x, y):
    n = x.shape[1]
    c = np.abs(np.corrcoef(x.T, y.T)[:n, n:])
    return max(np.mean([c[i, p[i]] for i in range(n)]) for p in itertools.permutations(range(n)))


fits = [np.loadtxt(f, delimiter=",", skiprows=1)[:, :3] for f in sorted(glob.glob(f"{sys.argv[1]}/held_sources-*.csv"))]
pairs = np.array([mcc(a, b) for a, b in itertools.combinations(fits, 2)])
print(f"{len(fits)} fits, {len(pairs)} pairs: MCC between fits {pairs.mean():.4f} ± {pairs.std(ddof=1):.4f}"
      f" (min {pairs.min():.4f}, max {pairs.max():.4f})")
