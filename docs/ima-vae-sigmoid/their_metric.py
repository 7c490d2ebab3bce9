"""Score held-out fits as IMA-VAE's validation logs them (runner.py `_log_mcc` at e150262):
Pearson MCC of one posterior sample after the sigmoid (ivae.py `_encode` for a uniform
prior), computed per validation batch of 64 rows and averaged over the batches (Lightning's
on_epoch mean, weighted by batch size, so the last short batch counts for its rows);
beside it the same sample scored on all held-out rows, and pdgc's own figure (the posterior
means, all rows). Usage: their_metric.py RUN_DIR [--no-sigmoid] (held_truth.csv and
held_sources-*.csv with their z*_sd columns, as their_draw.sh and ../ima-vae-mlp/one.sh
write them). --no-sigmoid for a normal prior, whose sample their decoder reads as it is."""
import glob
import itertools
import re
import sys

import numpy as np


def mcc(s, z):
    """Pearson MCC of z's columns against s's, matched one to one (also fit_agreement.py's)."""
    n = s.shape[1]
    c = np.abs(np.corrcoef(s.T, z.T)[:n, n:])
    return max(np.mean([c[i, p[i]] for i in range(n)]) for p in itertools.permutations(range(n)))


def main():
    d = sys.argv[1]
    squash = "--no-sigmoid" not in sys.argv[2:]
    truth = np.loadtxt(f"{d}/held_truth.csv", delimiter=",", skiprows=1)
    n = truth.shape[1]
    print("init means_all sample_all sample_batches64" + (" (samples after the sigmoid)" if squash else " (samples as they are)"))
    rows = []
    for f in sorted(glob.glob(f"{d}/held_sources-*.csv"), key=lambda f: int(re.findall(r"-(\d+)\.csv", f)[0])):
        init = int(re.findall(r"-(\d+)\.csv", f)[0])
        out = np.loadtxt(f, delimiter=",", skiprows=1)
        mean, sd = out[:, :n], out[:, n:2 * n]
        rng = np.random.default_rng(init)
        sample = mean + sd * rng.normal(size=mean.shape)
        if squash:
            sample = 1.0 / (1.0 + np.exp(-sample))
        starts = range(0, len(truth), 64)
        batches = [mcc(truth[i:i + 64], sample[i:i + 64]) for i in starts]
        sizes = [len(truth[i:i + 64]) for i in starts]
        row = (mcc(truth, mean), mcc(truth, sample), float(np.average(batches, weights=sizes)))
        rows.append(row)
        print(init, *(f"{x:.4f}" for x in row))
    a = np.array(rows)
    print("mean", *(f"{x:.4f}" for x in a.mean(0)))
    print("sd  ", *(f"{x:.4f}" for x in a.std(0, ddof=1)))


if __name__ == "__main__":
    main()
