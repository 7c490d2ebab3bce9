"""The same flow, started where linear ICA ends: every W the identity but the last, which is
FastICA's unmixing of the standardised data (scikit-learn, whiten unit-variance); every
element-wise map near the identity."""
import torch
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
    flow.quick_look(fit_start, "start ")
