"""summary.py for post-nonlinear: FastICA from run.py's sixth column (`pdgc fastica --seed
S`, fica.csv), the shipped model from a compare CSV (method `post-nonlinear`)."""
import sys, numpy as np
from summary import paired
shipped_csv, runs = sys.argv[1], sys.argv[2:]
shipped = {int(l.split(",")[1]): float(l.split(",")[2]) for l in open(shipped_csv)
           if l.split(",")[0] not in ("fastica", "method")} if shipped_csv != "-" else {}
by = {}
for l in (l for f in runs for l in open(f) if l.strip()):
    sc, s, v, m, loss, f = l.strip().split(",")
    by.setdefault(int(s), {})[v] = (float(m), float(loss), float(f))
seeds = sorted(s for s in by if {"random", "start"} <= by[s].keys())
fica = np.array([by[s]["random"][2] for s in seeds])


print(f"seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}): FastICA {fica.mean():.4f} ± {fica.std(ddof=1):.4f}")
ship = np.array([shipped[s] for s in seeds]) if shipped else None
if ship is not None:
    print(f"shipped models/best/post-nonlinear.pdg {ship.mean():.4f} ± {ship.std(ddof=1):.4f}")
pick = np.array([min(by[s].values(), key=lambda r: r[1])[0] for s in seeds])
for name, m in [("random", np.array([by[s]["random"][0] for s in seeds])),
                ("start", np.array([by[s]["start"][0] for s in seeds])), ("pick", pick)]:
    extra = f"   against shipped {paired(m, ship)}" if ship is not None else ""
    print(f"{name:8} {m.mean():.4f} ± {m.std(ddof=1):.4f} ({m.min():.4f})   against FastICA {paired(m, fica)}{extra}")
