"""IMA-VAE's Möbius data (rpatrik96/ima-vae, gen_synth_dataset.gen_data with
configs/synth/moebius.yaml: 60 000 rows, uniform sources, data.seed 1, latent_dim 3 from the
sweep), with the libraries of their requirements.txt where today's differ:
scipy 1.7's Householder ortho_group (1.8 moved to a QR of a normal matrix), and JAX's old
threefry bits (jax 0.2.21)."""
import sys
import numpy as np


def ortho_group_scipy17(dim, random_state):
    H = np.eye(dim)
    for n in range(dim):
        x = random_state.normal(size=(dim - n,))
        norm2 = np.dot(x, x)
        x0 = x[0].item()
        D = np.sign(x[0]) if x[0] != 0 else 1
        x[0] += D * np.sqrt(norm2)
        x /= np.sqrt((norm2 - x0**2 + x[0]**2) / 2.)
        H[:, n:] = -D * (H[:, n:] - np.outer(np.dot(H[:, n:], x), x))
    return H


def main():
    # JAX only here: the orthogonal matrices above are numpy's (gen_ima_mlp.py imports them).
    import jax
    jax.config.update("jax_threefry_partitionable", False)
    jax.config.update("jax_enable_x64", False)
    from jax import numpy as jnp

    seed, n_obs, dim, out = int(sys.argv[1]), 60000, 3, sys.argv[2]
    np.random.seed(seed)
    key = jax.random.PRNGKey(seed)
    key, subkey = jax.random.split(key)
    sources = jax.random.uniform(subkey, shape=(n_obs, dim), minval=0.0, maxval=1.0) - 0.5
    A = ortho_group_scipy17(dim, np.random.mtrand._rand)
    a = []
    while len(a) < dim:
        s = np.random.randn()
        if np.abs(s) > 0.5:
            a = a + [s]
    A, a = jnp.array(A), jnp.array(a)
    def mixing(x):
        frac = jnp.sum((x - a) ** 2) ** (-1)
        return frac * 1.0 * (A @ (x - a).T).T
    obs = jax.vmap(mixing)(sources)
    obs = obs - jnp.mean(obs, axis=0)
    obs = np.asarray(obs).astype(np.float32)
    sources = np.asarray(sources).astype(np.float32)
    np.savetxt(f"{out}/data.csv", obs, delimiter=",", header="x0,x1,x2", comments="", fmt="%.9g")
    np.savetxt(f"{out}/truth.csv", sources, delimiter=",", header="s0,s1,s2", comments="", fmt="%.9g")
    print("A =", np.asarray(A).round(4).tolist(), "a =", np.asarray(a).round(4).tolist())


if __name__ == "__main__":
    main()
