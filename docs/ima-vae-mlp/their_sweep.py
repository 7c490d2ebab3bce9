"""IMA-VAE's orthogonal-MLP figure from their sweep (rpatrik96/ima-vae,
notebooks/mlp_sweep_k2u5yzbe.csv): per decoder variance (1 / gamma_square), the MCC at the
lowest negative ELBO over the 20 init seeds. Usage: their_sweep.py mlp_sweep_k2u5yzbe.csv"""
import csv
import sys
from collections import defaultdict

import numpy as np

by_variance = defaultdict(list)
for row in csv.DictReader(open(sys.argv[1])):
    by_variance[1.0 / float(row["gamma_square"])].append(float(row["mcc4min_neg_elbo"]))
for variance in sorted(by_variance, reverse=True):
    m = np.array(by_variance[variance])
    print(f"decoder variance {variance:.0e}: {len(m)} runs, MCC {m.mean():.4f} ± {m.std(ddof=1):.4f}"
          f" (min {m.min():.4f}, max {m.max():.4f})")
