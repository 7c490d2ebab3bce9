import sys, numpy as np, flow
sc, depth, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for s in [int(a) for a in sys.argv[4].split(',')]:
    d = f"/tmp/flow/{sc}-{s}"
    x = np.loadtxt(f"{d}/data.csv", delimiter=",", skiprows=1); x = (x - x.mean(0)) / x.std(0)
    t = np.loadtxt(f"{d}/truth.csv", delimiter=",", skiprows=1)
    for init in range(4):
        z, l = flow.fit(x, depth, steps, 1e-2, init)
        print(f"{sc} seed {s} init {init}: mcc {flow.mcc(z, t):.4f} loss {l:.4f}", flush=True)
