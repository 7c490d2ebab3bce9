//! An exact-likelihood invertible encoder for m = n (`encoder { monotone 8 tanh; affine;
//! … }`): z = g(x), a composition of maps each element-wise and strictly increasing
//! (`Monotone`) or square and affine (`Affine`), trained on the data's exact negative
//! log-likelihood under a factorised prior (`objective.rs`'s `exact_likelihood`),
//!
//!   −log p(x) = −Σ_j log p_j(z_j) − Σ_k log|det W_k| − Σ_k Σ_j log f_k′(u_kj),
//!
//! with no decoder, no sampling and no β. It follows the PyTorch prototype in
//! `docs/explorations-choice-seeds/flow/`, which on eq. 114's fresh seeds was +0.058 over
//! FastICA. One difference: the monotone maps' positive numbers are exp of their
//! parameters here, softplus there.

use super::fused::add_into;
use super::objective::plus;
use super::params::{Param, VarBuilder};
use super::{c, tensor_of, to_matrix, Real, Scalar, Traced};
use crate::spec::Bijection;
use dfdx::prelude::*;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

/// f(u) = a·u + Σ_i w_i tanh(b_i u + c_i) per dimension, with a, w, b > 0, so f′ ≥ a > 0.
pub(crate) struct Monotone<E: Real> {
    /// ln a, (1, n).
    log_a: Param<E>,
    /// ln w, ln b and c, (n, units) each.
    log_w: Param<E>,
    log_b: Param<E>,
    c: Param<E>,
}

impl<E: Real> Monotone<E> {
    /// Near the identity: a = 1, every w = e⁻⁴.
    pub fn new(vb: &VarBuilder<'_, E>, n: usize, units: usize, rng: &mut StdRng) -> Self {
        let mut normal = |sd: f64| -> f64 {
            let x: f64 = StandardNormal.sample(rng);
            sd * x
        };
        let log_a = vb.add("log_a", 1, n, |_, _| 0.0);
        let log_w = vb.add("log_w", n, units, |_, _| -4.0);
        let log_b = vb.add("log_b", n, units, |_, _| normal(0.5));
        let c = vb.add("c", n, units, |_, _| normal(1.0));
        Monotone {
            log_a,
            log_w,
            log_b,
            c,
        }
    }

    /// f(u) and log f′(u), both (rows, n), by one fused op (`fused::monotone_map`).
    /// Both must reach the loss for a gradient: the op and everything before it are on
    /// the log-slope's tape, so a caller that keeps f(u) alone (as `encode` does, with no
    /// backward pass) gets values and no gradients.
    pub fn forward(&self, u: Traced<E>) -> (Traced<E>, Traced<E>) {
        let (rows, n) = *u.shape();
        let both = super::fused::monotone_map(
            u,
            self.log_a.traced(),
            self.log_w.traced(),
            self.log_b.traced(),
            self.c.traced(),
        );
        // The op's output reaches the loss through both halves: the copy's half is the
        // value, the original's the log-slope (`objective.rs`'s module doc on copies).
        let y = both.with_empty_tape().slice((0..rows, 0..n));
        (y, both.slice((0..rows, n..2 * n)))
    }

    /// f(u) and log f′(u) as a graph of dfdx ops: what `forward`'s fused op replaced,
    /// which the tests compare it with.
    #[cfg(test)]
    pub fn forward_unfused(&self, u: Traced<E>) -> (Traced<E>, Traced<E>) {
        let (rows, n) = *u.shape();
        let units = self.c.shape().1;
        let cube = (rows, n, units);
        let a: Traced<E> = self
            .log_a
            .traced()
            .exp()
            .reshape_like(&(n,))
            .broadcast_like::<_, Axis<0>>(&(rows, n));
        let w = self
            .log_w
            .traced()
            .exp()
            .broadcast_like::<_, Axis<0>>(&cube);
        let b = self
            .log_b
            .traced()
            .exp()
            .broadcast_like::<_, Axis<0>>(&cube);
        let shift = self.c.traced().broadcast_like::<_, Axis<0>>(&cube);
        let t = (u.with_empty_tape().broadcast_like::<_, Axis<2>>(&cube) * b.with_empty_tape()
            + shift)
            .tanh();
        // Each original reaches the loss once; the other uses are copies (module doc of
        // `objective.rs`: dfdx's copies share a gradient only then). So both outputs must
        // reach the loss: a caller that drops log f′ loses a, w, b and t's gradients.
        let y = a.with_empty_tape() * u
            + (w.with_empty_tape() * t.with_empty_tape()).sum::<(usize, usize), Axis<2>>();
        let slope = (w * b * (t.square().negate() + c::<E>(1.0))).sum::<(usize, usize), Axis<2>>();
        (y, (a + slope).ln())
    }

    /// f⁻¹ of every cell of `y` (rows × n, row-major), in f64: f is increasing with
    /// f′ ≥ a and |f(u) − a·u| < Σw, so u lies in [(y − Σw)/a, (y + Σw)/a], and bisection
    /// halves that bracket until it cannot (or 200 times).
    pub fn inverse(&self, y: &[f64]) -> Vec<f64> {
        let (n, units) = self.c.shape();
        let (log_a, log_w, log_b, shift) = (
            self.log_a.values(),
            self.log_w.values(),
            self.log_b.values(),
            self.c.values(),
        );
        let f = |j: usize, u: f64| {
            let terms = (0..units).map(|i| {
                let k = j * units + i;
                log_w[k].exp() * (log_b[k].exp() * u + shift[k]).tanh()
            });
            log_a[j].exp() * u + terms.sum::<f64>()
        };
        y.iter()
            .enumerate()
            .map(|(cell, &target)| {
                let j = cell % n;
                let (a, reach) = (
                    log_a[j].exp(),
                    (0..units).map(|i| log_w[j * units + i].exp()).sum::<f64>(),
                );
                let (mut lo, mut hi) = ((target - reach) / a, (target + reach) / a);
                for _ in 0..200 {
                    let mid = 0.5 * (lo + hi);
                    if mid <= lo || mid >= hi {
                        break;
                    }
                    match f(j, mid) < target {
                        true => lo = mid,
                        false => hi = mid,
                    }
                }
                0.5 * (lo + hi)
            })
            .collect()
    }

    pub fn params(&self) -> Vec<&Param<E>> {
        vec![&self.log_a, &self.log_w, &self.log_b, &self.c]
    }

    pub fn params_mut(&mut self) -> Vec<&mut Param<E>> {
        vec![
            &mut self.log_a,
            &mut self.log_w,
            &mut self.log_b,
            &mut self.c,
        ]
    }
}

/// u·W + b, W square, with log|det W|.
pub(crate) struct Affine<E: Real> {
    pub w: Param<E>,
    pub b: Param<E>,
}

impl<E: Real> Affine<E> {
    /// W a random orthogonal matrix (Haar, by QR of a Gaussian one), b = 0.
    pub fn new(vb: &VarBuilder<'_, E>, n: usize, rng: &mut StdRng) -> Self {
        let gaussian = nalgebra::DMatrix::<f64>::from_fn(n, n, |_, _| StandardNormal.sample(rng));
        let qr = gaussian.qr();
        let (q, r) = (qr.q(), qr.r());
        // Signs from R's diagonal make Q Haar-distributed (Mezzadri 2007).
        let q = nalgebra::DMatrix::from_fn(n, n, |i, j| q[(i, j)] * r[(j, j)].signum());
        Affine {
            w: vb.add("weight", n, n, |i, j| q[(i, j)]),
            b: vb.add("bias", 1, n, |_, _| 0.0),
        }
    }

    pub fn forward(&self, u: Traced<E>) -> Traced<E> {
        let (rows, n) = *u.shape();
        u.matmul(self.w.traced())
            + self
                .b
                .traced()
                .reshape_like(&(n,))
                .broadcast_like::<_, Axis<0>>(&(rows, n))
    }

    pub fn log_abs_det(&self) -> Scalar<E> {
        log_abs_det(self.w.traced())
    }

    /// u = (z − b)·W⁻¹ for every row of `z` (rows × n, row-major), in f64; none when W is
    /// singular.
    pub fn inverse(&self, z: &[f64]) -> Option<Vec<f64>> {
        let n = self.b.shape().1;
        let lu = crate::matrix::to_nalgebra(&self.w.values_matrix())
            .transpose()
            .lu();
        let b = self.b.values();
        let mut u = Vec::with_capacity(z.len());
        for row in z.chunks(n) {
            let centred =
                nalgebra::DVector::from_iterator(n, row.iter().zip(&b).map(|(z, b)| z - b));
            // u·W = z − b is Wᵀ·uᵀ = (z − b)ᵀ.
            u.extend(lu.solve(&centred)?.iter());
        }
        Some(u)
    }
}

/// One map of the encoder.
pub(crate) enum Map<E: Real> {
    Monotone(Monotone<E>),
    Affine(Affine<E>),
}

/// The whole encoder: its maps in order, as `encoder { monotone 8 tanh; affine; … }`
/// lists them.
pub(crate) struct Invertible<E: Real> {
    pub maps: Vec<Map<E>>,
}

impl<E: Real> Invertible<E> {
    /// The maps `spec` lists for n dimensions, each named by its place (`encoder.0.log_a`,
    /// `encoder.1.weight`), from `rng`.
    pub fn new(vb: &VarBuilder<'_, E>, n: usize, spec: &[Bijection], rng: &mut StdRng) -> Self {
        let maps = (spec.iter().enumerate())
            .map(|(k, map)| match *map {
                Bijection::Monotone { units } => {
                    Map::Monotone(Monotone::new(&vb.pp(k), n, units, rng))
                }
                Bijection::Affine => Map::Affine(Affine::new(&vb.pp(k), n, rng)),
            })
            .collect();
        Invertible { maps }
    }

    /// z = g(x) (rows, n), and Σ_t log|det ∂g/∂x (x_t)| over the rows.
    pub fn forward(&self, x: Traced<E>) -> (Traced<E>, Scalar<E>) {
        let rows = x.shape().0 as f64;
        let mut u = x;
        let mut log_jacobian: Option<Scalar<E>> = None;
        for map in &self.maps {
            let term = match map {
                Map::Monotone(f) => {
                    let (y, log_slope) = f.forward(u);
                    u = y;
                    log_slope.sum::<(), _>()
                }
                Map::Affine(affine) => {
                    u = affine.forward(u);
                    affine.log_abs_det() * c::<E>(rows)
                }
            };
            log_jacobian = Some(plus(log_jacobian, term));
        }
        (u, log_jacobian.expect("at least one map"))
    }

    /// x = g⁻¹(z) for every row of `z` (rows × n, row-major), in f64: `sample` and
    /// `decode`. None when an affine map is singular.
    pub fn inverse(&self, z: &[f64]) -> Option<Vec<f64>> {
        let mut u = z.to_vec();
        for map in self.maps.iter().rev() {
            u = match map {
                Map::Monotone(f) => f.inverse(&u),
                Map::Affine(affine) => affine.inverse(&u)?,
            };
        }
        Some(u)
    }

    /// Starts the encoder as the affine map z = x·W + b, so that it begins where a linear
    /// unmixing ends (`train { start fastica }`): the last affine map at (W, b), every
    /// earlier one at the identity. The monotone maps keep their start near the identity.
    /// Nothing changes without an affine map.
    pub fn start_at(&mut self, w: &[f64], b: &[f64]) {
        let last = self.maps.iter().rposition(|m| matches!(m, Map::Affine(_)));
        for (k, map) in self.maps.iter_mut().enumerate() {
            if let Map::Affine(affine) = map {
                let n = affine.b.shape().1;
                match Some(k) == last {
                    true => {
                        affine.w.set(w);
                        affine.b.set(b);
                    }
                    false => {
                        let identity = (0..n * n).map(|i| (i / n == i % n) as u8 as f64);
                        affine.w.set(&identity.collect::<Vec<_>>());
                        affine.b.set(&vec![0.0; n]);
                    }
                }
            }
        }
    }

    /// Relabels the sources: source j becomes source perm[j]'s. The columns of the last
    /// affine map move, and the rows of every monotone map after it.
    pub fn permute_outputs(&mut self, perm: &[usize]) {
        use crate::matrix::{select, values};
        use ndarray::Axis;
        let last = self.maps.iter().rposition(|m| matches!(m, Map::Affine(_)));
        let last = last.expect("the checker asks for an affine map");
        for map in &mut self.maps[last..] {
            let (by_column, by_row): (Vec<&mut Param<E>>, Vec<&mut Param<E>>) = match map {
                Map::Affine(a) => (vec![&mut a.w, &mut a.b], vec![]),
                Map::Monotone(f) => (
                    vec![&mut f.log_a],
                    vec![&mut f.log_w, &mut f.log_b, &mut f.c],
                ),
            };
            for p in by_column {
                p.set(values(&select(&p.values_matrix(), Axis(1), perm)));
            }
            for p in by_row {
                p.set(values(&select(&p.values_matrix(), Axis(0), perm)));
            }
        }
    }

    pub fn params(&self) -> Vec<&Param<E>> {
        let mut all = Vec::new();
        for map in &self.maps {
            match map {
                Map::Monotone(f) => all.extend(f.params()),
                Map::Affine(affine) => all.extend([&affine.w, &affine.b]),
            }
        }
        all
    }

    pub fn params_mut(&mut self) -> Vec<&mut Param<E>> {
        let mut all = Vec::new();
        for map in &mut self.maps {
            match map {
                Map::Monotone(f) => all.extend(f.params_mut()),
                Map::Affine(affine) => all.extend([&mut affine.w, &mut affine.b]),
            }
        }
        all
    }
}

/// log|det W| of a square W, which dfdx has no op for: an LU in f64 (nalgebra), and the
/// gradient W⁻ᵀ. A singular W gives −∞ and a gradient that is not finite, so the step
/// is skipped as any other that is not finite.
pub(crate) fn log_abs_det<E: Real>(w: Traced<E>) -> Scalar<E> {
    let (n, cols) = *w.shape();
    assert_eq!(n, cols, "a square matrix");
    let (w, mut tape) = w.split_tape();
    let lu = crate::matrix::to_nalgebra(&to_matrix(&w)).lu();
    // The sum of the pivots' logs, not the log of their product: that product over- or
    // underflows f64 long before the model is too large to train.
    let log_det = lu.u().diagonal().iter().map(|u| u.abs().ln()).sum::<f64>();
    let inverse_transposed: Vec<E> = match lu.try_inverse() {
        Some(inverse) => {
            let t = inverse.transpose();
            (0..n * n).map(|i| c::<E>(t[(i / n, i % n)])).collect()
        }
        None => vec![c::<E>(f64::NAN); n * n],
    };
    let out = tensor_of(w.device(), std::iter::once(c::<E>(log_det)), (1, 1));
    let ghosts = (out.ghost(), w.ghost());
    tape.add_backward_op(move |grads| {
        let (out, w) = ghosts;
        let g = E::cells(grads.get_or_alloc_mut(&out)?)[0];
        let d: Vec<E> = inverse_transposed.iter().map(|&v| g * v).collect();
        add_into(E::cells(grads.get_or_alloc_mut(&w)?), &d);
        Ok(())
    });
    out.put_tape(tape).sum::<(), _>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Dev;
    use rand::SeedableRng;

    /// `depth` blocks of a monotone map of `units` units and an affine map: the
    /// prototype's shape.
    fn blocks(depth: usize, units: usize) -> Vec<Bijection> {
        let block = [Bijection::Monotone { units }, Bijection::Affine];
        block.into_iter().cycle().take(2 * depth).collect()
    }

    fn dev() -> Dev<f64> {
        f64::device(0)
    }

    use crate::backend::sealed::Engine;

    #[test]
    fn log_abs_det_and_its_gradient_match_finite_differences() {
        let dev = dev();
        let values = [0.3, -1.2, 0.5, 0.9, 0.4, -0.7, -0.2, 0.8, 1.1];
        let value_at = |v: &[f64]| {
            let t = tensor_of(&dev, v.iter().copied(), (3, 3));
            log_abs_det(t.leaky_trace()).array()
        };
        let exact = nalgebra::DMatrix::<f64>::from_row_slice(3, 3, &values)
            .determinant()
            .abs()
            .ln();
        assert!((value_at(&values) - exact).abs() < 1e-12);
        let w = tensor_of(&dev, values.iter().copied(), (3, 3));
        let grads = log_abs_det(w.leaky_trace()).backward();
        let analytic = grads.get(&w).as_vec();
        for i in 0..9 {
            let h = 1e-6;
            let (mut up, mut down) = (values, values);
            up[i] += h;
            down[i] -= h;
            let numeric = (value_at(&up) - value_at(&down)) / (2.0 * h);
            assert!(
                (numeric - analytic[i]).abs() < 1e-6,
                "entry {i}: {numeric} against {}",
                analytic[i]
            );
        }
    }

    /// Every parameter's gradient of a loss through z and the log-Jacobian (−Σ z²/2 −
    /// log-Jacobian, a standard normal prior) matches central differences: the copies
    /// with empty tapes in `Monotone::forward` pass every gradient on.
    #[test]
    fn every_parameter_gradient_matches_finite_differences() {
        let dev = dev();
        let mut rng = StdRng::seed_from_u64(4);
        let vb = VarBuilder::<f64>::new(&dev, "encoder");
        let mut g = Invertible::new(&vb, 3, &blocks(2, 3), &mut rng);
        let x = [
            0.2, -0.4, 1.1, -1.5, 0.3, 0.0, 0.9, 0.9, -0.8, 0.1, 0.5, -0.3,
        ];
        let loss = |g: &Invertible<f64>| {
            let t = tensor_of(&dev, x.iter().copied(), (4, 3));
            let (z, log_jacobian) = g.forward(t.leaky_trace());
            z.square().sum::<(), _>() * 0.5 - log_jacobian
        };
        let grads = loss(&g).backward();
        let analytic: Vec<Vec<f64>> = g
            .params()
            .iter()
            .map(|p| grads.get(p.value()).as_vec())
            .collect();
        for (k, expected) in analytic.iter().enumerate() {
            for i in 0..expected.len() {
                let base = g.params()[k].values();
                let at = |g: &mut Invertible<f64>, v: f64| {
                    let mut values = base.clone();
                    values[i] = v;
                    g.params_mut()[k].set(&values);
                    loss(g).array()
                };
                let h = 1e-6;
                let numeric = (at(&mut g, base[i] + h) - at(&mut g, base[i] - h)) / (2.0 * h);
                g.params_mut()[k].set(&base);
                let tolerance = 1e-6 * (1.0 + numeric.abs());
                assert!(
                    (numeric - expected[i]).abs() < tolerance,
                    "parameter {k} entry {i}: {numeric} against {}",
                    expected[i]
                );
            }
        }
    }

    /// Every parameter moved by N(0, sd²): away from the near-identity start, so that
    /// every part of the maps matters.
    fn perturb(g: &mut Invertible<f64>, sd: f64, rng: &mut StdRng) {
        for p in g.params_mut() {
            let values: Vec<f64> = p
                .values()
                .iter()
                .map(|v| {
                    let x: f64 = StandardNormal.sample(rng);
                    v + sd * x
                })
                .collect();
            p.set(&values);
        }
    }

    /// `depth` blocks of `units` units for 3 dimensions, drawn from `seed` and perturbed
    /// by N(0, sd²).
    fn perturbed(
        dev: &Dev<f64>,
        depth: usize,
        units: usize,
        seed: u64,
        sd: f64,
    ) -> Invertible<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let vb = VarBuilder::<f64>::new(dev, "encoder");
        let mut g = Invertible::new(&vb, 3, &blocks(depth, units), &mut rng);
        perturb(&mut g, sd, &mut rng);
        g
    }

    /// The fused monotone op (`fused::monotone_map`) gives the graph it replaced, value
    /// and every gradient, in f64: a map moved away from its start, rows inside and far
    /// outside the tanh units' range, and different weights on f(u) and on log f′(u) so
    /// that each half's gradient counts.
    #[test]
    fn the_fused_monotone_map_matches_the_unfused_graph() {
        let dev = dev();
        let g = perturbed(&dev, 1, 5, 6, 0.7);
        let Map::Monotone(f) = &g.maps[0] else {
            unreachable!("a block starts with its monotone map")
        };
        let rows = 11;
        let u = tensor_of(
            &dev,
            (0..rows * 3)
                .map(|i| ((i * 7 % 13) as f64 - 6.0) * 0.45 + (i == 5) as u8 as f64 * 30.0),
            (rows, 3),
        );
        let weights = |k: usize| {
            tensor_of(
                &dev,
                (0..rows * 3).map(move |i| ((i * k) % 5) as f64 - 1.7),
                (rows, 3),
            )
        };
        let run = |fused: bool| {
            let (y, log_slope) = match fused {
                true => f.forward(u.clone().leaky_trace()),
                false => f.forward_unfused(u.clone().leaky_trace()),
            };
            let values = [y.as_vec(), log_slope.as_vec()].concat();
            let loss = (y * weights(3)).sum::<(), _>() + (log_slope * weights(4)).sum::<(), _>();
            let grads = loss.backward();
            let mut all = vec![values, grads.get(&u).as_vec()];
            all.extend(f.params().iter().map(|p| grads.get(p.value()).as_vec()));
            all
        };
        let (fused, plain) = (run(true), run(false));
        let names = ["value", "d/du", "d/dlog_a", "d/dlog_w", "d/dlog_b", "d/dc"];
        for (what, (a, b)) in names.iter().zip(fused.iter().zip(&plain)) {
            assert_eq!(a.len(), b.len(), "{what}");
            for (i, (p, q)) in a.iter().zip(b).enumerate() {
                assert!(
                    (p - q).abs() <= 1e-11 * (1.0 + q.abs()),
                    "{what}[{i}]: {p} vs {q}"
                );
            }
        }
    }

    /// g⁻¹(g(x)) = x, for rows inside and far outside the data's range.
    #[test]
    fn the_inverse_undoes_the_forward_map() {
        let dev = dev();
        let g = perturbed(&dev, 2, 8, 5, 0.5);
        let x = [
            0.2, -0.4, 1.1, -1.5, 0.3, 0.0, 0.9, 0.9, -0.8, 40.0, -25.0, 3.0,
        ];
        let (z, _) = g.forward(tensor_of(&dev, x.iter().copied(), (4, 3)).leaky_trace());
        let back = g.inverse(&z.as_vec()).expect("W is not singular");
        for (a, b) in x.iter().zip(&back) {
            assert!(
                (a - b).abs() < 1e-9 * (1.0 + a.abs()),
                "{x:?} came back as {back:?}"
            );
        }
    }

    /// The encoder's log-Jacobian is, row by row, log|det| of the Jacobian of its own
    /// forward map taken by central differences.
    #[test]
    fn the_log_jacobian_is_that_of_the_forward_map() {
        let dev = dev();
        let g = perturbed(&dev, 2, 4, 3, 0.3);
        let forward = |x: &[f64]| -> (Vec<f64>, f64) {
            let t = tensor_of(&dev, x.iter().copied(), (1, 3));
            let (z, lj) = g.forward(t.leaky_trace());
            (z.as_vec(), lj.array())
        };
        for row in [[0.2, -0.4, 1.1], [-1.5, 0.3, 0.0], [0.9, 0.9, -0.8]] {
            let (_, log_jacobian) = forward(&row);
            let h = 1e-5;
            let jacobian = nalgebra::DMatrix::from_fn(3, 3, |i, j| {
                let (mut up, mut down) = (row, row);
                up[j] += h;
                down[j] -= h;
                (forward(&up).0[i] - forward(&down).0[i]) / (2.0 * h)
            });
            let numeric = jacobian.determinant().abs().ln();
            assert!(
                (numeric - log_jacobian).abs() < 1e-7,
                "{row:?}: {numeric} against {log_jacobian}"
            );
        }
    }
}
