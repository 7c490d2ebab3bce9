"""How much the fits on one draw agree with each other: the MCC between the held-out
posterior means (columns z0..z2) of every pair of init seeds. Fits that identified the
sources would agree (near 1); fits that each settled on their own rotation agree only as
much as two random rotations do (0.83 ± 0.08 in 3 dimensions, random_rotation.py).
Usage: fit_agreement.py RUN_DIR (one.sh's d1-s1, holding held_sources-0..9.csv)."""
import glob
import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ima-vae-sigmoid"))
from their_metric import mcc  # noqa: E402


fits = [np.loadtxt(f, delimiter=",", skiprows=1)[:, :3] for f in sorted(glob.glob(f"{sys.argv[1]}/held_sources-*.csv"))]
pairs = np.array([mcc(a, b) for a, b in itertools.combinations(fits, 2)])
print(f"{len(fits)} fits, {len(pairs)} pairs: MCC between fits {pairs.mean():.4f} ± {pairs.std(ddof=1):.4f}"
      f" (min {pairs.min():.4f}, max {pairs.max():.4f})")
