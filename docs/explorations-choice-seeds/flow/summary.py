"""The flow against FastICA and the shipped model, seed by seed: `random`, `start` and
`pick` (of the two, the lower final loss, no truth needed), from run.py's lines. FastICA
as `compare` runs it (`pdgc fastica --seed S`, the files fica_s.csv); the shipped
`models/best/nonlinear.pdg` from a `compare --csv` file (method `nonlinear`). Ties within
0.005 and a 10 000-resample bootstrap of the mean difference, as `compare` counts them."""
import sys, numpy as np
from flow import mcc


def paired(mcc_a, mcc_b):
    d = mcc_a - mcc_b
    rng = np.random.default_rng(0)
    boot = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(10000)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    w, t = (d > 0.005).sum(), (abs(d) <= 0.005).sum()
    return f"{d.mean():+.4f} [{lo:+.4f}, {hi:+.4f}] {w}/{t}/{len(d) - w - t}"


def load(path):
    return np.loadtxt(path, delimiter=",", skiprows=1)


if __name__ == "__main__":
    shipped_csv, runs = sys.argv[1], sys.argv[2:]
    shipped = {int(l.split(",")[1]): float(l.split(",")[2])
               for l in open(shipped_csv) if l.startswith("nonlinear,")}
    by = {}
    for l in (l for f in runs for l in open(f) if l.strip()):
        sc, s, v, m, loss, _ = l.strip().split(",")
        by.setdefault(int(s), {})[v] = (float(m), float(loss))
    seeds = sorted(s for s in by if {"random", "start"} <= by[s].keys())
    fica = np.array([mcc(load(f"/tmp/flow/nonlinear-{s}/fica_s.csv"), load(f"/tmp/flow/nonlinear-{s}/truth.csv"))
                     for s in seeds])
    ship = np.array([shipped[s] for s in seeds])

    print(f"seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}): FastICA {fica.mean():.4f} ± {fica.std(ddof=1):.4f}, "
          f"shipped nonlinear.pdg {ship.mean():.4f} ± {ship.std(ddof=1):.4f}")
    print("variant  MCC mean ± sd (min)        against FastICA: Δ [95 %] W/T/L     against shipped: Δ [95 %] W/T/L")
    pick = np.array([min(by[s].values(), key=lambda r: r[1])[0] for s in seeds])
    for name, m in [("random", np.array([by[s]["random"][0] for s in seeds])),
                    ("start", np.array([by[s]["start"][0] for s in seeds])), ("pick", pick)]:
        print(f"{name:8} {m.mean():.4f} ± {m.std(ddof=1):.4f} ({m.min():.4f})   {paired(m, fica)}   {paired(m, ship)}")
    best = np.array([max(r[0] for r in by[s].values()) for s in seeds])
    print(f"pick keeps the better-recovering of the two on {int((pick == best).sum())} of {len(seeds)} seeds")
