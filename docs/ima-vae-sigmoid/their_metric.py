"""Score held-out fits as IMA-VAE's validation logs them (runner.py `_log_mcc` at e150262):
Pearson MCC of one posterior sample after the sigmoid (ivae.py `_encode` for a uniform
prior), computed per validation batch of 64 rows and averaged over the batches (Lightning's
on_epoch mean); beside it the same sample scored on all held-out rows, and pdgc's own figure
(the posterior means, all rows). Usage: their_metric.py RUN_DIR (held_truth.csv and
held_sources-*.csv with their z*_sd columns, as their_draw.sh writes them)."""
import glob
import itertools
import re
import sys

import numpy as np


def mcc(s, z):
    n = s.shape[1]
    c = np.abs(np.corrcoef(s.T, z.T)[:n, n:])
    return max(np.mean([c[i, p[i]] for i in range(n)]) for p in itertools.permutations(range(n)))


d = sys.argv[1]
truth = np.loadtxt(f"{d}/held_truth.csv", delimiter=",", skiprows=1)
n = truth.shape[1]
print("init means_all sample_sigmoid_all sample_sigmoid_batches64")
rows = []
for f in sorted(glob.glob(f"{d}/held_sources-*.csv"), key=lambda f: int(re.findall(r"-(\d+)\.csv", f)[0])):
    init = int(re.findall(r"-(\d+)\.csv", f)[0])
    out = np.loadtxt(f, delimiter=",", skiprows=1)
    mean, sd = out[:, :n], out[:, n:2 * n]
    rng = np.random.default_rng(init)
    sample = 1.0 / (1.0 + np.exp(-(mean + sd * rng.normal(size=mean.shape))))
    batches = [mcc(truth[i:i + 64], sample[i:i + 64]) for i in range(0, len(truth) - 63, 64)]
    row = (mcc(truth, mean), mcc(truth, sample), float(np.mean(batches)))
    rows.append(row)
    print(init, *(f"{x:.4f}" for x in row))
a = np.array(rows)
print("mean", *(f"{x:.4f}" for x in a.mean(0)))
print("sd  ", *(f"{x:.4f}" for x in a.std(0, ddof=1)))
