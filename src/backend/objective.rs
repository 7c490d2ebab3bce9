//! The objective (eq. 39, or the Gaussian likelihood's negative ELBO, eq. 26) over one
//! chunk of a batch: one shared forward pass (the posterior of the chunk's rows), then one
//! function per estimator of the expectation over q:
//!
//! - `elbo`: the Monte-Carlo ELBO, every term sampled and the samples averaged;
//! - `importance_weighted`: the importance-weighted bound over the same samples (Burda et
//!   al. 2016), per row;
//! - `quadrature`: the reconstruction sampled, the KL term by Gauss–Hermite nodes.
//!
//! Every term is divided by the whole batch's size, so that the chunks of a batch add up
//! to its objective (`step.rs` runs them in parallel).

use super::fused::{self, LogVariances};
use super::invertible::Invertible;
use super::model::{row_major, Model};
use super::step::Chunk;
use super::{
    c, to_matrix, value, Dev, Mat, Real, Scalar, Step, Terms, Traced, Traced1, TracedOf,
    LOG_VAR_RANGE,
};
use crate::matrix::Matrix;
use crate::numeric::{Quadrature, LN_2PI};
use crate::spec::{Bound, KlEstimate, Likelihood};
use dfdx::prelude::*;

/// What every estimator starts from: the chunk's rows and their posterior.
struct Pass<'a, E: Real> {
    /// The chunk's rows, as a tensor.
    y: Mat<E>,
    /// The reparameterisation noise: one ε matrix (rows × n) per Monte-Carlo sample.
    eps: &'a [Matrix],
    mu: Traced<E>,
    /// log σ², clamped: a column of n, or one a cell.
    lv: LogVariances<E>,
    /// 1/(Tm), T the whole batch's rows.
    scale: f64,
}

/// A tensor lent to each Monte-Carlo sample in turn: a copy with an empty tape to each
/// sample but the last, which consumes the original. dfdx's copies made with
/// `with_empty_tape` share the original's gradient only if the original itself reaches
/// the loss.
struct Lent<T>(Option<T>);

/// What `Lent` lends: a traced tensor, or the posterior's log-variances.
trait EmptyTapeCopy {
    fn empty_tape_copy(&self) -> Self;
}

impl<E: Real> EmptyTapeCopy for Traced<E> {
    fn empty_tape_copy(&self) -> Self {
        self.with_empty_tape()
    }
}

impl<E: Real> EmptyTapeCopy for LogVariances<E> {
    fn empty_tape_copy(&self) -> Self {
        self.with_empty_tape()
    }
}

impl<T: EmptyTapeCopy> Lent<T> {
    fn lend(&mut self, last: bool) -> T {
        match last {
            true => self.0.take().expect("consumed once"),
            false => self.0.as_ref().expect("still held").empty_tape_copy(),
        }
    }
}

impl<E: Real> Model<E> {
    /// The objective's share from the rows `chunk.rows` of a batch of `chunk.of` rows:
    /// `y` holds those rows, and `eps` their noise, one ε matrix (rows × n) per
    /// Monte-Carlo sample. Returns the traced loss and its terms as numbers.
    pub(super) fn objective(&self, y: &Matrix, eps: &[Matrix], chunk: &Chunk) -> (Scalar<E>, Step) {
        assert!(!eps.is_empty(), "at least one Monte-Carlo sample");
        assert_eq!(y.nrows(), chunk.rows.len(), "y holds the chunk's rows");
        let (rows, n) = (y.nrows(), self.spec.n());
        for e in eps {
            assert_eq!(
                (e.nrows(), e.ncols()),
                (rows, n),
                "ε has one row per data row"
            );
        }
        if let Some(flow) = &self.net.flow {
            return self.exact_likelihood(flow, y, chunk);
        }
        let yt = self.tensor(y);
        let (mu, lv) = self.posterior(&yt, chunk.rows.clone());
        let lv_values = lv.values();
        let posterior_variances = (0..n)
            .map(|j| {
                let sum = match &lv {
                    LogVariances::Columns(_) => sum_of_exps((0..rows).map(|_| lv_values[j])),
                    LogVariances::Cells(_) => sum_of_exps((0..rows).map(|r| lv_values[r * n + j])),
                };
                sum / chunk.of as f64
            })
            .collect();
        let pass = Pass {
            y: yt,
            eps,
            mu,
            lv,
            scale: 1.0 / (chunk.of * y.ncols()) as f64,
        };
        let (loss, mut terms) = match (self.spec.kl, self.spec.train.bound) {
            (KlEstimate::Quadrature(h), bound) => {
                assert!(
                    bound != Bound::Iwae,
                    "the checker refuses iwae with quadrature"
                );
                self.quadrature(pass, &Quadrature::gauss_hermite(h))
            }
            (KlEstimate::Sample, Bound::Iwae) => self.importance_weighted(pass),
            (KlEstimate::Sample, Bound::Elbo) => self.elbo(pass),
        };
        terms.loss = value(&loss);
        let noise_variances = self.net.noise_log_var.as_ref().map_or_else(Vec::new, |p| {
            let (lo, hi) = self.noise_log_var_range();
            p.values().iter().map(|&v| v.clamp(lo, hi).exp()).collect()
        });
        (
            loss,
            Step {
                terms,
                posterior_variances,
                noise_variances,
                applied: false,
            },
        )
    }

    /// An invertible encoder's objective: the data's exact negative log-likelihood,
    /// −(1/Tm)(Σ_t log p(z_t) + Σ_t log|det ∂z/∂x (x_t)|), z = g(x), with no sample and no
    /// β. Its terms: `log_p` the prior's part, `log_q` minus the log-Jacobian's, so that
    /// `kl()` is the whole loss, and no reconstruction.
    fn exact_likelihood(
        &self,
        flow: &Invertible<E>,
        y: &Matrix,
        chunk: &Chunk,
    ) -> (Scalar<E>, Step) {
        let scale = 1.0 / (chunk.of * y.ncols()) as f64;
        // Traced, as the posterior's data are (`Model::posterior`); nothing reads the
        // gradient they get.
        let (z, log_jacobian) = flow.forward(self.tensor(y).leaky_trace());
        let log_p = self.log_prior(z);
        let (p_v, j_v) = (value(&log_p), value(&log_jacobian));
        let loss = (log_p + log_jacobian) * c::<E>(-scale);
        let terms = Terms {
            loss: value(&loss),
            reconstruction: 0.0,
            log_q: -j_v * scale,
            log_p: p_v * scale,
        };
        let step = Step {
            terms,
            posterior_variances: vec![0.0; self.spec.n()],
            noise_variances: Vec::new(),
            applied: false,
        };
        (loss, step)
    }

    /// z̃ = μ + σ ⊙ ε for sample `e` (`fused::reparameterised`): z̃ carries μ's tape, and
    /// `lv` gets its gradient if it reaches the loss another way (the KL term).
    fn latent_sample(&self, mu: Traced<E>, lv: &LogVariances<E>, e: &Matrix) -> Traced<E> {
        fused::reparameterised(mu, lv, &row_major(e))
    }

    /// The Monte-Carlo ELBO: each sample's reconstruction and KL estimate, averaged over
    /// the samples.
    fn elbo(&self, pass: Pass<E>) -> (Scalar<E>, Terms) {
        let (samples, scale, beta) = (pass.eps.len() as f64, pass.scale, self.beta);
        let (mut mu, mut lv) = (Lent(Some(pass.mu)), Lent(Some(pass.lv)));
        let mut total: Option<Scalar<E>> = None;
        let mut terms = Terms::default();
        for (s, e) in pass.eps.iter().enumerate() {
            let last = s + 1 == pass.eps.len();
            let lv_s = lv.lend(last);
            let z = self.latent_sample(mu.lend(last), &lv_s, e);
            let y_hat = self.decoded(z.with_empty_tape());
            let (rec, squared_error) = self.reconstruction(y_hat, &pass.y, scale);
            let log_q = self.log_q(lv_s, e);
            let log_p = self.log_prior(z);
            let (q_v, p_v) = (value(&log_q), value(&log_p));
            terms.reconstruction += squared_error / samples;
            terms.log_q += q_v * scale / samples;
            terms.log_p += p_v * scale / samples;
            let loss = (rec + (log_q - log_p) * c::<E>(beta * scale)) * c::<E>(1.0 / samples);
            total = Some(plus(total, loss));
        }
        (total.expect("at least one sample"), terms)
    }

    /// The importance-weighted bound over the samples: each sample's loss per row (eq.
    /// 39's summands, β included), then `importance_weighted_loss`. The terms are the
    /// ELBO's, for the trace.
    fn importance_weighted(&self, pass: Pass<E>) -> (Scalar<E>, Terms) {
        let (samples, scale, beta) = (pass.eps.len() as f64, pass.scale, self.beta);
        let (mut mu, mut lv) = (Lent(Some(pass.mu)), Lent(Some(pass.lv)));
        let mut terms = Terms::default();
        let mut row_losses: Vec<Traced1<E>> = Vec::new();
        for (s, e) in pass.eps.iter().enumerate() {
            let last = s + 1 == pass.eps.len();
            let lv_s = lv.lend(last);
            let z = self.latent_sample(mu.lend(last), &lv_s, e);
            let y_hat = self.decoded(z.with_empty_tape());
            let (cells, squared_error) = self.reconstruction_cells(y_hat - pass.y.clone());
            let log_q = self.log_q_elements(lv_s.cells(e.nrows()), e);
            let log_p = self.log_prior_elements(z);
            let q_v = value(&log_q.with_empty_tape().sum::<(), _>());
            let p_v = value(&log_p.with_empty_tape().sum::<(), _>());
            terms.reconstruction += squared_error * scale / samples;
            terms.log_q += q_v * scale / samples;
            terms.log_p += p_v * scale / samples;
            row_losses.push(
                cells.sum::<(usize,), Axis<1>>()
                    + (log_q - log_p).sum::<(usize,), Axis<1>>() * c::<E>(beta),
            );
        }
        (importance_weighted_loss(row_losses, scale), terms)
    }

    /// `kl quadrature`: the reconstruction sampled and averaged, the KL term once, from a
    /// copy of μ and the original log σ² (which the samples leave alone), by
    /// `expected_kl_terms`.
    fn quadrature(&self, pass: Pass<E>, rule: &Quadrature) -> (Scalar<E>, Terms) {
        let (samples, scale, beta) = (pass.eps.len() as f64, pass.scale, self.beta);
        let mu_copy = pass.mu.with_empty_tape();
        let mut mu = Lent(Some(pass.mu));
        let mut total: Option<Scalar<E>> = None;
        let mut terms = Terms::default();
        for (s, e) in pass.eps.iter().enumerate() {
            let z = self.latent_sample(mu.lend(s + 1 == pass.eps.len()), &pass.lv, e);
            let (rec, squared_error) = self.reconstruction(self.decoded(z), &pass.y, scale);
            terms.reconstruction += squared_error / samples;
            total = Some(plus(total, rec * c::<E>(1.0 / samples)));
        }
        let rows = pass.y.shape().0;
        let (log_q, log_p) = self.expected_kl_terms(mu_copy, pass.lv.cells(rows), rule);
        let (q_v, p_v) = (value(&log_q), value(&log_p));
        terms.log_q = q_v * scale;
        terms.log_p = p_v * scale;
        let kl = (log_q - log_p) * c::<E>(beta * scale);
        (total.expect("at least one sample") + kl, terms)
    }

    /// Σ_t Σ_j log p_j(z_tj), each p_j the dimension's prior (eq. 21–22).
    pub(super) fn log_prior(&self, z: Traced<E>) -> Scalar<E> {
        self.log_prior_elements(z).sum()
    }

    /// log p_j(z_tj) for every row t and dimension j, as a (rows, n) tensor.
    fn log_prior_elements(&self, z: Traced<E>) -> Traced<E> {
        self.net.prior.log_density(z)
    }

    /// Σ_tj log N(z̃_tj | μ_tj, σ²_tj) = Σ_tj (−½ log σ²_tj − ½ log 2π − ½ ε²_tj): the sum of
    /// `log_q_elements`, with the noise's part a number (in f64) and the log-variances'
    /// summed as they are held (a column of n: each times the rows).
    fn log_q(&self, lv: LogVariances<E>, e: &Matrix) -> Scalar<E> {
        let constant: f64 = e.iter().map(|&x| -0.5 * LN_2PI - 0.5 * x * x).sum();
        lv.sum_over(e.nrows()) * c::<E>(-0.5) + c::<E>(constant)
    }

    /// log N(z̃_tj | μ_tj, σ²_tj) for every row and dimension. With z̃ − μ = σε exactly, the
    /// quadratic term is ε²/2, which keeps the gradient the reparameterised one.
    fn log_q_elements(&self, lv: Traced<E>, e: &Matrix) -> Traced<E> {
        let constant = e.map(|x| -0.5 * LN_2PI - 0.5 * x * x);
        lv * c::<E>(-0.5) + self.tensor(&constant)
    }

    /// log q(z̃_tj) − log p_j(z̃_tj) for every row and dimension, for the noise `e`: the
    /// summands of the objective's KL term, computed by the same code.
    pub fn kl_elements(&self, y: &Matrix, e: &Matrix) -> Matrix {
        let (mu, lv) = self.posterior(&self.tensor(y), 0..y.nrows());
        let z = self.latent_sample(mu, &lv, e);
        to_matrix(&(self.log_q_elements(lv.cells(y.nrows()), e) - self.log_prior_elements(z)))
    }

    /// `kl quadrature`: Σ_tj E_q[log q(z_tj)] in closed form, −½(log 2πσ² + 1), and
    /// Σ_tj E_q[log p_j(z_tj)] by the rule's nodes, z = μ + σε_h, through the same prior
    /// code as the sampled estimate. `mu` is a copy (μ's own tape reaches the loss through
    /// the reconstruction); `lv` is the original, which reaches it here.
    fn expected_kl_terms(
        &self,
        mu: Traced<E>,
        lv: Traced<E>,
        rule: &Quadrature,
    ) -> (Scalar<E>, Scalar<E>) {
        let mut log_p: Option<Scalar<E>> = None;
        for (&node, &weight) in rule.nodes.iter().zip(&rule.weights) {
            let sd = (lv.with_empty_tape() * c::<E>(0.5)).exp();
            let z = mu.with_empty_tape() + sd * c::<E>(node);
            log_p = Some(plus(log_p, self.log_prior(z) * c::<E>(weight)));
        }
        let log_p = log_p.expect("at least one node");
        let cells = (lv.shape().0 * lv.shape().1) as f64;
        let log_q = lv.sum::<(), _>() * c::<E>(-0.5) - c::<E>(0.5 * (LN_2PI + 1.0) * cells);
        (log_q, log_p)
    }

    /// The range a learned noise log-variance is clamped to: from log of the floor.
    pub(super) fn noise_log_var_range(&self) -> (f64, f64) {
        match self.spec.likelihood {
            Likelihood::LearnedGaussian { floor, .. } => (floor.ln(), LOG_VAR_RANGE.1),
            _ => LOG_VAR_RANGE,
        }
    }

    /// The reconstruction term of the loss for the reconstruction ŷ of the rows y (rows ×
    /// m), already multiplied by `scale` = 1/(Tm), and the squared error (1/Tm) Σ(ŷ − y)²
    /// as a number (what the trace calls reconstruction, whatever the likelihood). With a
    /// fixed likelihood the cells' sum is taken from Σ(ŷ − y)² (`fused::squared_error`);
    /// a learned one weighs each column by its own variance (`reconstruction_cells`).
    fn reconstruction(&self, y_hat: Traced<E>, y: &Mat<E>, scale: f64) -> (Scalar<E>, f64) {
        let (rows, m) = *y.shape();
        let (sum, squared_error) = match self.spec.likelihood {
            Likelihood::LearnedGaussian { .. } => {
                let (cells, squared_error) = self.reconstruction_cells(y_hat - y.clone());
                (cells.sum::<(), _>(), squared_error)
            }
            fixed => {
                let sum = fused::squared_error(y_hat, y);
                let squared_error = value(&sum);
                let cells = match fixed {
                    Likelihood::Gaussian(variance) => {
                        let constant = 0.5 * (variance.ln() + LN_2PI) * (rows * m) as f64;
                        sum * c::<E>(1.0 / (2.0 * variance)) + c::<E>(constant)
                    }
                    _ => sum,
                };
                (cells, squared_error)
            }
        };
        (sum * c::<E>(scale), squared_error * scale)
    }

    /// −log p(y_ti | z_t) for every row and column, up to eq. 39's convention: the squared
    /// error itself for `likelihood mse`, (ŷ − y)²/(2σ²) + ½ log 2πσ² for a Gaussian. Also
    /// the sum of squared errors, as a number.
    fn reconstruction_cells(&self, residual: Traced<E>) -> (Traced<E>, f64) {
        let (rows, m) = *residual.shape();
        let squared = residual.square();
        let squared_error = value(&squared.with_empty_tape().sum::<(), _>());
        let cells = match (self.spec.likelihood, &self.net.noise_log_var) {
            (Likelihood::SquaredError, _) => squared,
            (Likelihood::Gaussian(variance), _) => {
                squared * c::<E>(1.0 / (2.0 * variance)) + c::<E>(0.5 * (variance.ln() + LN_2PI))
            }
            (Likelihood::LearnedGaussian { .. }, Some(p)) => {
                let k = p.shape().1;
                let (lo, hi) = self.noise_log_var_range();
                let lv = p.traced().clamp(lo, hi);
                let lv: Traced<E> = match k {
                    1 => lv
                        .reshape_like(&())
                        .broadcast_like::<_, Axes2<0, 1>>(&(rows, m)),
                    _ => lv
                        .reshape_like(&(m,))
                        .broadcast_like::<_, Axis<0>>(&(rows, m)),
                };
                let precision = (lv.with_empty_tape().negate().exp()) * c::<E>(0.5);
                squared * precision + lv * c::<E>(0.5) + c::<E>(0.5 * LN_2PI)
            }
            (Likelihood::LearnedGaussian { .. }, None) => {
                unreachable!("a learned likelihood has its noise parameter")
            }
        };
        (cells, squared_error)
    }

    /// The objective's value and terms, without a step.
    pub fn evaluate(&self, y: &Matrix, eps: &[Matrix]) -> Terms {
        self.objective(y, eps, &Chunk::all(y.nrows())).1.terms
    }
}

/// The importance-weighted bound's loss from each sample's per-row loss ℓ_ts (eq. 39's
/// summands, β included): (1/Tm) Σ_t −log((1/S) Σ_s exp(−ℓ_ts)) (Burda et al. 2016). The
/// log-sum-exp is shifted per row by the largest −ℓ_ts, a constant: the value and the
/// gradient (the softmax weights) do not depend on the shift, and no exp overflows.
fn importance_weighted_loss<E: Real>(row_losses: Vec<Traced1<E>>, scale: f64) -> Scalar<E> {
    let samples = row_losses.len();
    let rows = row_losses[0].shape().0;
    let values: Vec<Vec<f64>> = row_losses
        .iter()
        .map(|l| {
            l.as_vec()
                .iter()
                .map(|x| x.to_f64().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    // A row whose losses are not all finite gets no shift: its loss is then not finite
    // either, and the step is skipped as any other.
    let shift: Vec<E> = (0..rows)
        .map(|t| {
            values
                .iter()
                .map(|v| -v[t])
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .map(|x| c::<E>(if x.is_finite() { x } else { 0.0 }))
        .collect();
    let dev = row_losses[0].device().clone();
    let mut shift_t: Tensor<(usize,), E, Dev<E>> = dev.zeros_like(&(rows,));
    shift_t.copy_from(&shift);
    let mut sum: Option<Traced1<E>> = None;
    for l in row_losses {
        sum = Some(plus(sum, (l.negate() - shift_t.clone()).exp()));
    }
    let log_mean = sum.expect("at least one sample").ln() + shift_t - c::<E>((samples as f64).ln());
    log_mean.sum::<(), _>() * c::<E>(-scale)
}

/// `sum + term`, or `term` when nothing has been summed yet: how the objective adds up
/// its samples, nodes and importance weights (and the invertible encoder its
/// log-Jacobian's terms).
pub(super) fn plus<S: Shape, E: Real>(
    sum: Option<TracedOf<S, E>>,
    term: TracedOf<S, E>,
) -> TracedOf<S, E> {
    match sum {
        None => term,
        Some(sum) => sum + term,
    }
}

/// Σ e^v over `values` in f64, in their order. A value equal to the one before it reuses
/// that one's e^v: with `posterior variance per_dimension` a column holds one log-variance
/// in every row, and an f64 exp per cell was over 1 % of a `linear.pdg` epoch, for the
/// trace alone. Equal values (±0 included) have the same e^v, so the sum is the same to
/// the bit as exponentiating every cell.
fn sum_of_exps<E: Real>(values: impl Iterator<Item = E>) -> f64 {
    let mut previous: Option<(E, f64)> = None;
    values
        .map(|v| match previous {
            Some((p, e)) if p == v => e,
            _ => {
                let e = v.to_f64().unwrap_or(f64::NAN).exp();
                previous = Some((v, e));
                e
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::sum_of_exps;

    #[test]
    fn sum_of_exps_gives_the_bits_of_an_exp_per_cell() {
        let columns: [&[f32]; 4] = [
            &[-2.0; 625],
            &[-2.0, -2.0, 0.5, 0.5, -2.0, 0.0, -0.0, 0.0, 3.0],
            &[
                f32::NAN,
                f32::NAN,
                1.0,
                1.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
            ],
            &[],
        ];
        for column in columns {
            let each: f64 = column.iter().map(|&v| (v as f64).exp()).sum();
            let cached = sum_of_exps(column.iter().copied());
            assert_eq!(cached.to_bits(), each.to_bits(), "{column:?}");
        }
    }
}
