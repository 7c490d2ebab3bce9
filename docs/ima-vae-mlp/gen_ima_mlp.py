"""IMA-VAE's orthogonal-MLP data (rpatrik96/ima-vae, gen_synth_dataset.gen_data with
configs/synth/mlp.yaml: 60 000 rows, 3 Gaussian sources N(0, 1), 3 mixing layers of
orthogonal matrices, data.seed 1), as the code stood when notebooks/mlp_sweep_k2u5yzbe.csv
was committed (e150262, 2022-05-14): datamodules.py asks for nonlin "smooth_lrelu", and
gen_mlp calls smooth_leaky_relu(obs) without its slope, so the default alpha = 1 makes every
layer's activation the identity (fixed in 3dc06d1 the next day). The mixing is then one
orthogonal matrix. SLOPE (third argument, default 1) reproduces that; 0.2 gives the fixed
generator. ortho_group is scipy 1.7's Householder algorithm, as their requirements pin it."""
import os
import sys

import numpy as np

# scipy 1.7's ortho_group, as the Möbius generator reproduces it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ima-vae-sigmoid"))
from gen_ima_moebius import ortho_group_scipy17  # noqa: E402


def smooth_leaky_relu(x, alpha=1.0):
    return alpha * x + (1 - alpha) * np.logaddexp(x, 0)


seed, out = int(sys.argv[1]), sys.argv[2]
slope = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
n_obs, dim, layers = 60000, 3, 3
np.random.seed(seed)
# non_stationary_data with one segment: np.random.normal(mean, var, ...) with mean 0 and
# var = prior_var = 1 (numpy's second argument is the standard deviation).
sources = np.random.normal(0.0, 1.0, (n_obs, dim))
obs = np.copy(sources)
for _ in range(layers):
    mixing_matrix = ortho_group_scipy17(dim, np.random.mtrand._rand)
    obs = smooth_leaky_relu(obs, slope)
    obs = np.dot(obs, mixing_matrix)
obs = obs.astype(np.float32)
sources = sources.astype(np.float32)
np.savetxt(f"{out}/data.csv", obs, delimiter=",", header="x0,x1,x2", comments="", fmt="%.9g")
np.savetxt(f"{out}/truth.csv", sources, delimiter=",", header="s0,s1,s2", comments="", fmt="%.9g")
