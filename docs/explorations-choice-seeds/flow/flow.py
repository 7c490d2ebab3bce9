"""Quick look (choice seeds only): an exact-likelihood invertible encoder for m = n.

z = L_D(f_D(... L_1(f_1(x)))), each f_k element-wise and monotone (a·u + Σ w tanh(b u + c),
a, w, b > 0), each L_k a square affine map; maximum likelihood with a learnable GMM prior per
dimension: log p(x) = Σ_j log p_j(z_j) + Σ_k log|det W_k| + Σ log f_k'(u).
"""
import os, sys, math, numpy as np, torch
from scipy.optimize import linear_sum_assignment

torch.set_num_threads(1)
# float64 unless FLOW_DTYPE=float32 (pdgc trains in f32).
torch.set_default_dtype(getattr(torch, os.environ.get("FLOW_DTYPE", "float64")))


def mcc(a, b):
    n = a.shape[1]
    c = np.abs(np.corrcoef(a.T, b.T)[:n, n:])
    r, k = linear_sum_assignment(-c)
    return c[r, k].mean()


class Elementwise(torch.nn.Module):
    def __init__(self, n, k=8):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(n))  # softplus(0)+.. ~ 0.69
        self.w = torch.nn.Parameter(torch.full((n, k), -4.0))
        self.b = torch.nn.Parameter(torch.randn(n, k) * 0.5)
        self.c = torch.nn.Parameter(torch.randn(n, k))

    def forward(self, u):
        a = torch.nn.functional.softplus(self.a) / math.log(2.0)
        w = torch.nn.functional.softplus(self.w)
        b = torch.nn.functional.softplus(self.b)
        t = torch.tanh(u[:, :, None] * b + self.c)
        y = a * u + (w * t).sum(-1)
        dy = a + (w * b * (1 - t * t)).sum(-1)
        return y, torch.log(dy).sum(1)


class Flow(torch.nn.Module):
    def __init__(self, n, depth, k_prior=3):
        super().__init__()
        self.f = torch.nn.ModuleList([Elementwise(n) for _ in range(depth)])
        self.W = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.linalg.qr(torch.randn(n, n))[0]) for _ in range(depth)])
        self.bias = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(n)) for _ in range(depth)])
        self.pm = torch.nn.Parameter(torch.randn(n, k_prior))
        self.pls = torch.nn.Parameter(torch.zeros(n, k_prior))
        self.plw = torch.nn.Parameter(torch.zeros(n, k_prior))

    def encode(self, x):
        ld = torch.zeros(x.shape[0])
        u = x
        for f, W, b in zip(self.f, self.W, self.bias):
            u, l = f(u)
            ld = ld + l
            u = u @ W.T + b
            ld = ld + torch.linalg.slogdet(W)[1]
        return u, ld

    def log_prior(self, z):
        lw = torch.log_softmax(self.plw, 1)
        d = (z[:, :, None] - self.pm) / torch.exp(self.pls)
        lp = lw - 0.5 * d * d - self.pls - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(lp, 2).sum(1)

    def loss(self, x):
        z, ld = self.encode(x)
        return -(self.log_prior(z) + ld).mean()


def fit(x, depth, steps, lr, seed):
    torch.manual_seed(seed)
    return train(Flow(x.shape[1], depth), x, steps, lr)


def train(m, x, steps, lr):
    """Full-batch Adam on the negative log-likelihood; the sources and the final loss."""
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    xt = torch.tensor(x, dtype=torch.get_default_dtype())
    for i in range(steps):
        opt.zero_grad()
        l = m.loss(xt)
        l.backward()
        opt.step()
    with torch.no_grad():
        return m.encode(xt)[0].numpy(), l.item()


def quick_look(fit, label):
    """The seeds-0-9 quick look: `fit` on /tmp/flow/SCENARIO-SEED/ for seeds 0-9 of each
    scenario on the command line (after depth, steps and lr), each seed's MCC and FastICA's
    (fica.csv), then the means."""
    depth, steps, lr = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    for sc in sys.argv[4:]:
        res = []
        for s in range(10):
            d = f"/tmp/flow/{sc}-{s}"
            x = np.loadtxt(f"{d}/data.csv", delimiter=",", skiprows=1)
            x = (x - x.mean(0)) / x.std(0)
            truth = np.loadtxt(f"{d}/truth.csv", delimiter=",", skiprows=1)
            fica = np.loadtxt(f"{d}/fica.csv", delimiter=",", skiprows=1)
            z, l = fit(x, depth, steps, lr, 0)
            a, f = mcc(z, truth), mcc(fica, truth)
            res.append((a, f))
            print(f"{sc} seed {s}: flow {a:.4f} fastica {f:.4f} loss {l:.4f}", flush=True)
        r = np.array(res)
        print(f"{sc} {label}depth {depth} steps {steps} lr {lr}: flow {r[:,0].mean():.4f} fastica {r[:,1].mean():.4f} "
              f"diff {(r[:,0]-r[:,1]).mean():+.4f} wins {(r[:,0]>r[:,1]).sum()}", flush=True)


if __name__ == "__main__":
    quick_look(fit, "")
