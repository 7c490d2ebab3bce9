//! The Gaussian posterior's reparameterised sample, z̃ = μ + e^{½ log σ²} ⊙ ε, and the
//! squared error of a reconstruction, Σ (ŷ − y)², each as one dfdx op.
//!
//! Why: as dfdx ops they were a handful of binary ops on (rows × n) tensors a sample,
//! which dfdx 0.13 walks index by index (`NdIndex`) forward and again backward, with a
//! zero-filled buffer for every result and every gradient; with `posterior variance
//! per_dimension` the log-variances are a broadcast, the slowest case. In a profile of
//! `linear.pdg` (one thread, T = 5000) those ops and their buffers were about a tenth of
//! an epoch. Here each walks its cells once each way. The sample's arithmetic is the
//! graph's, operation for operation, so z̃ and every gradient of it are the graph's to the
//! bit (a test keeps them so); only the sums of the squared error differ in order.

use super::add_into;
use crate::backend::{c, Real, Scalar, Traced, Traced1};
use dfdx::prelude::*;

/// The posterior's log-variances log σ² (clamped) as the sample reads them: one a latent
/// dimension, the same in every row (`posterior variance per_dimension`, or `fixed`), or
/// one a cell (`per_sample`).
pub(crate) enum LogVariances<E: Real> {
    /// (n,): dimension j's log σ², for every row.
    Columns(Traced1<E>),
    /// (rows, n).
    Cells(Traced<E>),
}

impl<E: Real> LogVariances<E> {
    /// The (rows, n) log-variances, one a cell (a broadcast of `Columns`).
    pub(crate) fn cells(self, rows: usize) -> Traced<E> {
        match self {
            LogVariances::Columns(lv) => {
                let n = lv.shape().0;
                lv.broadcast_like::<_, Axis<0>>(&(rows, n))
            }
            LogVariances::Cells(lv) => lv,
        }
    }

    /// A copy with an empty tape (dfdx's `with_empty_tape`): its gradient is the
    /// original's, if the original reaches the loss.
    pub(crate) fn with_empty_tape(&self) -> Self {
        match self {
            LogVariances::Columns(lv) => LogVariances::Columns(lv.with_empty_tape()),
            LogVariances::Cells(lv) => LogVariances::Cells(lv.with_empty_tape()),
        }
    }

    /// Σ_t Σ_j log σ²_tj over `rows` rows, traced: what log q's sum needs of them.
    pub(crate) fn sum_over(self, rows: usize) -> Scalar<E> {
        match self {
            LogVariances::Columns(lv) => lv.sum::<(), _>() * c::<E>(rows as f64),
            LogVariances::Cells(lv) => lv.sum::<(), _>(),
        }
    }

    /// The values, one a column (`Columns`) or a cell row by row (`Cells`).
    pub(crate) fn values(&self) -> Vec<E> {
        match self {
            LogVariances::Columns(lv) => lv.as_vec(),
            LogVariances::Cells(lv) => lv.as_vec(),
        }
    }
}

/// z̃ = μ + e^{½ log σ²} ⊙ ε for μ (rows × n), the log-variances `lv` and the noise ε
/// (rows × n, row-major). z̃ carries μ's tape; `lv`'s tape is left where it is, since the
/// KL term that reads `lv` too carries it to the loss, and `lv` gets its gradient from
/// both (dfdx adds them by the tensor's identity).
///
/// With the output's gradient g: ∂/∂μ = g, ∂/∂log σ² = ½ σ Σ ε g, the sum over the rows
/// that share the log-variance, in row order, as dfdx's graph `mu + (lv·½).exp() · ε`
/// computes it.
pub(crate) fn reparameterised<E: Real>(
    mu: Traced<E>,
    lv: &LogVariances<E>,
    eps: &[E],
) -> Traced<E> {
    let (rows, n) = *mu.shape();
    assert_eq!(eps.len(), rows * n, "ε has the posterior's shape");
    let half = c::<E>(0.5);
    let sd: Vec<E> = lv.values().iter().map(|&v| (v * half).exp()).collect();
    // Where the backward pass adds log σ²'s gradient, and whether each cell has its own.
    let (lv_ghost, per_cell) = match lv {
        LogVariances::Columns(lv) => {
            assert_eq!(lv.shape().0, n, "one log-variance a latent dimension");
            (Ghost::Columns(lv.ghost()), false)
        }
        LogVariances::Cells(lv) => {
            assert_eq!(*lv.shape(), (rows, n), "one log-variance a cell");
            (Ghost::Cells(lv.ghost()), true)
        }
    };
    let sd_at = move |i: usize| if per_cell { i } else { i % n };
    let (mu, tape) = mu.split_tape();
    let mut mean = vec![E::zero(); rows * n];
    mu.copy_into(&mut mean);
    let z: Vec<E> = (mean.iter().zip(eps).enumerate())
        .map(|(i, (&m, &e))| m + sd[sd_at(i)] * e)
        .collect();
    let out = mu.device().tensor_from_vec(z, (rows, n));
    let eps = eps.to_vec();
    let ghosts = (out.ghost(), mu.ghost());
    let mut tape = tape;
    tape.add_backward_op(move |grads| {
        let (out, mu) = ghosts;
        let g = E::cells(grads.get_or_alloc_mut(&out)?).to_vec();
        add_into(E::cells(grads.get_or_alloc_mut(&mu)?), &g);
        // ∂/∂σ by cell, summed in row order where the rows share σ; then through the exp
        // (times σ) and the halving, each a step of its own as in the graph.
        let mut d_sd = vec![E::zero(); sd.len()];
        for (i, (&e, &g)) in eps.iter().zip(&g).enumerate() {
            d_sd[sd_at(i)] += e * g;
        }
        let d_lv: Vec<E> = (d_sd.iter().zip(&sd))
            .map(|(&d, &s)| half * (s * d))
            .collect();
        let into = match &lv_ghost {
            Ghost::Columns(lv) => grads.get_or_alloc_mut(lv)?,
            Ghost::Cells(lv) => grads.get_or_alloc_mut(lv)?,
        };
        add_into(E::cells(into), &d_lv);
        Ok(())
    });
    out.put_tape(tape)
}

/// Which log-variances a sample read, for its backward pass: the ghost of a (n,) or of a
/// (rows, n) tensor (generic, since dfdx does not export the ghost's type).
enum Ghost<C, R> {
    Columns(C),
    Cells(R),
}

/// Σ (ŷ − y)² over every cell, for the reconstruction ŷ (traced) and the rows y. With the
/// output's gradient g, ∂/∂ŷ = 2(ŷ − y) g, as the graph `(ŷ − y).square().sum()` gives it.
pub(crate) fn squared_error<E: Real>(
    y_hat: Traced<E>,
    y: &Tensor<(usize, usize), E, crate::backend::Dev<E>>,
) -> Scalar<E> {
    let shape = *y_hat.shape();
    assert_eq!(shape, *y.shape(), "a reconstruction of the rows' shape");
    let (y_hat, tape) = y_hat.split_tape();
    let cells = shape.0 * shape.1;
    let (mut residual, mut observed) = (vec![E::zero(); cells], vec![E::zero(); cells]);
    y_hat.copy_into(&mut residual);
    y.copy_into(&mut observed);
    let mut sum = E::zero();
    for (r, &o) in residual.iter_mut().zip(&observed) {
        *r -= o;
        sum += *r * *r;
    }
    let mut out: Tensor<(), E, crate::backend::Dev<E>> = y_hat.device().zeros();
    out.copy_from(&[sum]);
    let ghosts = (out.ghost(), y_hat.ghost());
    let mut tape = tape;
    tape.add_backward_op(move |grads| {
        let (out, y_hat) = ghosts;
        let g = E::cells(grads.get_or_alloc_mut(&out)?)[0];
        for (d, &r) in E::cells(grads.get_or_alloc_mut(&y_hat)?)
            .iter_mut()
            .zip(&residual)
        {
            *d += (r + r) * g;
        }
        Ok(())
    });
    out.put_tape(tape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sealed::Engine;
    use crate::backend::{clamp_log_var, Dev, Mat};

    fn matrix<E: Real>(dev: &Dev<E>, rows: usize, cols: usize, f: impl Fn(usize) -> f64) -> Mat<E> {
        let values = (0..rows * cols).map(|i| c::<E>(f(i)));
        crate::backend::tensor_of(dev, values, (rows, cols))
    }

    /// The sample and a KL-like use of the log-variances, fused or as the graph the op
    /// replaced; the value of a weighted sum of z̃ and log σ², and the gradients of μ and of
    /// the log-variance parameter (clamped first, as `clamp_log_var` does).
    fn sample<E: Real>(fused: bool, per_cell: bool) -> [Vec<E>; 3] {
        let dev = E::device(7);
        let (rows, n) = (23, 3);
        let mu: Mat<E> = matrix(&dev, rows, n, |i| ((i * 7 % 11) as f64 - 5.0) * 0.3);
        let eps: Mat<E> = matrix(&dev, rows, n, |i| ((i * 13 % 17) as f64 - 8.0) * 0.25);
        let weights: Mat<E> = matrix(&dev, rows, n, |i| (i % 5) as f64 - 1.5);
        let lv_rows = if per_cell { rows } else { 1 };
        // One value outside the clamp's range, so that its gradient is cut there.
        let lv_param: Mat<E> = matrix(&dev, lv_rows, n, |i| match i {
            1 => -40.0,
            _ => ((i * 3 % 7) as f64 - 3.0) * 0.4,
        });
        let traced = lv_param.clone().leaky_trace();
        let lv = match per_cell {
            true => LogVariances::Cells(clamp_log_var(traced)),
            false => LogVariances::Columns(clamp_log_var(traced.reshape_like(&(n,)))),
        };
        let z = match fused {
            true => reparameterised(mu.clone().leaky_trace(), &lv, &eps.as_vec()),
            false => {
                let lv = lv.with_empty_tape().cells(rows);
                let sd = (lv * c::<E>(0.5)).exp();
                mu.clone().leaky_trace() + sd * eps.clone()
            }
        };
        let values = z.as_vec();
        let kl = lv.sum_over(rows) * c::<E>(-0.5);
        let grads = ((z * weights).sum::<(), _>() + kl).backward();
        [
            values,
            grads.get(&mu).as_vec(),
            grads.get(&lv_param).as_vec(),
        ]
    }

    #[test]
    fn the_reparameterised_sample_matches_the_graph_in_value_and_gradient() {
        for per_cell in [false, true] {
            let (fused, plain) = (
                sample::<f64>(true, per_cell),
                sample::<f64>(false, per_cell),
            );
            for (what, (a, b)) in ["z", "d/dmu", "d/dlv"].iter().zip(fused.iter().zip(&plain)) {
                for (i, (p, q)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (p - q).abs() <= 1e-12 * (1.0 + q.abs()),
                        "{what}[{i}] (per cell {per_cell}): {p} vs {q}"
                    );
                }
            }
            assert!(fused[2].contains(&0.0), "the clamp cuts one gradient");
        }
    }

    #[test]
    fn the_reparameterised_sample_gives_the_graphs_bits_in_f32() {
        for per_cell in [false, true] {
            let (fused, plain) = (
                sample::<f32>(true, per_cell),
                sample::<f32>(false, per_cell),
            );
            // z̃, ∂/∂μ and ∂/∂log σ² to the bit (the KL term's share of ∂/∂log σ² comes
            // from the same graph on either side, added in the same order).
            for (what, (a, b)) in ["z", "d/dmu", "d/dlv"].iter().zip(fused.iter().zip(&plain)) {
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(a), bits(b), "{what} (per cell {per_cell})");
            }
        }
    }

    #[test]
    fn the_squared_error_matches_the_graph_in_value_and_gradient() {
        let dev = f64::device(9);
        let (rows, m) = (19, 4);
        let y_hat: Mat<f64> = matrix(&dev, rows, m, |i| ((i * 5 % 9) as f64 - 4.0) * 0.7);
        let y: Mat<f64> = matrix(&dev, rows, m, |i| ((i * 11 % 13) as f64 - 6.0) * 0.4);
        let run = |fused: bool| {
            let t = y_hat.clone().leaky_trace();
            let s = match fused {
                true => squared_error(t, &y),
                false => (t - y.clone()).square().sum::<(), _>(),
            };
            let value = s.as_vec()[0];
            let grads = (s * 0.37).backward();
            (value, grads.get(&y_hat).as_vec())
        };
        let ((v, g), (w, h)) = (run(true), run(false));
        assert!((v - w).abs() <= 1e-12 * w.abs(), "{v} vs {w}");
        for (i, (p, q)) in g.iter().zip(&h).enumerate() {
            assert!(
                (p - q).abs() <= 1e-12 * (1.0 + q.abs()),
                "d/dy_hat[{i}]: {p} vs {q}"
            );
        }
    }
}
