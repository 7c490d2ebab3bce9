"""One line per (seed, variant): the flow's MCC, its final loss (the negative mean
log-likelihood), FastICA's MCC on the same data. Variant `random`: random orthogonal
start, init seed 0; `start`: started where FastICA ends (flow_start.py)."""
import sys, numpy as np, flow, flow_start
variant, depth, steps, lr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
sc = sys.argv[5]
for s in [int(a) for a in sys.argv[6].split(',')]:
    d = f"/tmp/flow/{sc}-{s}"
    x = np.loadtxt(f"{d}/data.csv", delimiter=",", skiprows=1); x = (x - x.mean(0)) / x.std(0)
    t = np.loadtxt(f"{d}/truth.csv", delimiter=",", skiprows=1)
    f = np.loadtxt(f"{d}/fica.csv", delimiter=",", skiprows=1)
    fit = flow.fit if variant == "random" else flow_start.fit_start
    z, l = fit(x, depth, steps, lr, 0)
    print(f"{sc},{s},{variant},{flow.mcc(z, t):.4f},{l:.4f},{flow.mcc(f, t):.4f}", flush=True)
