"""The same flow, started where linear ICA ends: every W the identity but the last, which is
FastICA's unmixing of the standardised data (scikit-learn, whiten unit-variance); every
element-wise map near the identity."""
import sys, numpy as np, torch
from sklearn.decomposition import FastICA
import flow


def fit_start(x, depth, steps, lr, seed):
    torch.manual_seed(seed)
    m = flow.Flow(x.shape[1], depth)
    ica = FastICA(whiten="unit-variance", random_state=seed, max_iter=1000).fit(x)
    W = ica.components_  # sources = (x - mean) @ W.T
    with torch.no_grad():
        for k in range(depth):
            m.W[k].copy_(torch.eye(x.shape[1]))
        m.W[depth - 1].copy_(torch.tensor(W, dtype=torch.get_default_dtype()))
        m.bias[depth - 1].copy_(torch.tensor(-W @ ica.mean_, dtype=torch.get_default_dtype()))
    return flow.train(m, x, steps, lr)

if __name__ == "__main__":
    depth, steps, lr = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    for sc in sys.argv[4:]:
        res = []
        for s in range(10):
            d = f"/tmp/flow/{sc}-{s}"
            x = np.loadtxt(f"{d}/data.csv", delimiter=",", skiprows=1)
            x = (x - x.mean(0)) / x.std(0)
            truth = np.loadtxt(f"{d}/truth.csv", delimiter=",", skiprows=1)
            fica = np.loadtxt(f"{d}/fica.csv", delimiter=",", skiprows=1)
            z, l = fit_start(x, depth, steps, lr, 0)
            a, f = flow.mcc(z, truth), flow.mcc(fica, truth)
            res.append((a, f))
            print(f"{sc} seed {s}: flow {a:.4f} fastica {f:.4f} loss {l:.4f}", flush=True)
        r = np.array(res)
        print(f"{sc} start depth {depth} steps {steps} lr {lr}: flow {r[:,0].mean():.4f} fastica {r[:,1].mean():.4f} "
              f"diff {(r[:,0]-r[:,1]).mean():+.4f} wins {(r[:,0]>r[:,1]).sum()}", flush=True)
