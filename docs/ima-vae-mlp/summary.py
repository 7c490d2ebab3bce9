"""Summarise runs.txt (one.sh's lines): per setting, the VAE's MCC, FastICA's on the same
held-out rows, and the paired difference with a bootstrap 95 % interval (ties within 0.005,
as `pdgc compare` counts them). Usage: summary.py runs.txt (needs numpy)."""
import sys

import numpy as np

rows = [line.split() for line in open(sys.argv[1]) if not line.startswith("#")]
settings = [
    ("their draw (data seed 1), slope 1, init seeds 0-9", lambda r: r[0] == "1"),
    ("data seeds 1000-1019, slope 1 (as swept), init seed 0", lambda r: r[0] != "1" and r[2] == "1"),
    ("data seeds 1000-1019, slope 0.2 (the fixed generator), init seed 0", lambda r: r[2] == "0.2"),
]
for name, keep in settings:
    sel = [r for r in rows if keep(r)]
    vae = np.array([float(r[3]) for r in sel])
    spearman = np.array([float(r[4]) for r in sel])
    ica = np.array([float(r[5]) for r in sel])
    d = vae - ica
    rng = np.random.default_rng(0)
    boot = np.array([rng.choice(d, len(d)).mean() for _ in range(10000)])
    wins, losses = int((d > 0.005).sum()), int((d < -0.005).sum())
    print(f"{name}: {len(sel)} fits")
    print(f"  VAE      {vae.mean():.4f} ± {vae.std(ddof=1):.4f} (min {vae.min():.4f}, max {vae.max():.4f}); Spearman {spearman.mean():.4f}")
    print(f"  FastICA  {ica.mean():.4f} ± {ica.std(ddof=1) if len(set(ica)) > 1 else 0:.4f}")
    print(f"  VAE - FastICA {d.mean():+.4f} [{np.quantile(boot, 0.025):+.4f}, {np.quantile(boot, 0.975):+.4f}],"
          f" W / T / L {wins} / {len(d) - wins - losses} / {losses}")
