//! Fused kernels: several elementwise steps of the graph as one dfdx operation with its
//! own backward pass.
//!
//! Why: a profile of one `nonlinear.pdg` epoch at T = 5000 (`perf record -g`) spent about
//! a quarter of its time in matrix products. The rest went to chains of small elementwise
//! operations, each allocating, zero-filling and walking a (T, 64) buffer forward and
//! again backward. A fused op walks its buffer once each way.
//!
//! dfdx 0.13 keeps its kernel traits private, so a fused op is written with its public
//! parts: the input's tape is split off, the values are computed here, and a closure
//! pushed on the tape (`Tape::add_backward_op`) turns the output's gradient into the
//! inputs'. `tests` check each op against the unfused graph, value and gradient, in f64.

use super::{Real, Traced};
use crate::spec::Activation;
use dfdx::prelude::*;
use multiversion::multiversion;

/// An elementwise loop compiled for AVX-512 and for AVX2 + FMA (multiversion), the
/// version the CPU has picked at run time; without the default feature `avx512`, for AVX2
/// + FMA alone, which is how the AVX2 path is measured on an AVX-512 machine.
macro_rules! vectorised {
    ($(#[$attr:meta])* fn $($rest:tt)*) => {
        $(#[$attr])*
        #[cfg_attr(
            feature = "avx512",
            multiversion(targets(
                "x86_64+avx512f+avx512bw+avx512dq+avx512vl+avx2+fma",
                "x86_64+avx2+fma"
            ))
        )]
        #[cfg_attr(not(feature = "avx512"), multiversion(targets("x86_64+avx2+fma")))]
        fn $($rest)*
    };
}

mod chain;
mod gaussian;
mod monotone;
mod narrow;
mod scratch;
mod transpose;

pub(crate) use chain::{dense_chain, Layer};
pub(crate) use gaussian::{reparameterised, squared_error, LogVariances};
pub(crate) use monotone::monotone_map;
pub(crate) use narrow::{dots, dots_f32};
pub(crate) use scratch::Spares;
pub(crate) use transpose::{transpose_f32, transpose_from};

/// dst (m × n) = lhs (m × k) · rhs (k × n), or dst += lhs · rhs with `accumulate`; each
/// matrix given as (buffer, row stride, column stride).
fn product<E: Real>(
    (m, n, k): (usize, usize, usize),
    dst: (&mut [E], usize, usize),
    accumulate: bool,
    lhs: (&[E], usize, usize),
    rhs: (&[E], usize, usize),
) {
    let extent = |rows: usize, cols: usize, rs: usize, cs: usize| match rows * cols {
        0 => 0,
        _ => (rows - 1) * rs + (cols - 1) * cs + 1,
    };
    assert!(
        dst.0.len() >= extent(m, n, dst.1, dst.2),
        "the product's buffer"
    );
    assert!(
        lhs.0.len() >= extent(m, k, lhs.1, lhs.2),
        "the left factor's buffer"
    );
    assert!(
        rhs.0.len() >= extent(k, n, rhs.1, rhs.2),
        "the right factor's buffer"
    );
    if m * n == 0 {
        return;
    }
    let (dst, dst_rs, dst_cs) = dst;
    if narrow::narrow_product((m, n, k), (&mut *dst, dst_rs, dst_cs), accumulate, lhs, rhs) {
        return;
    }
    // The narrowest products (up to 8 output columns from a left factor by rows, or up to
    // 8 terms) are `narrow`'s, computed along their long side. The rest of the tall,
    // narrow products written by rows (9 to 15 output columns; a weight's gradient with
    // few outputs, its left factor by columns): gemm would put a row's few columns on
    // the vector lanes, a few of 16 used. Written by columns into a scratch, the long
    // side is on the lanes; the scratch is then added or copied in.
    if dst_cs == 1 && n < 16 && m >= 4 * n {
        // A left factor by rows (a layer's activations) gemm would pack one element at a
        // time; it is transposed here instead, 8 × 8 at a time (`transpose`), its rows
        // padded with zeros to a multiple of 16 (gemm's lanes), so that gemm reads it as
        // it is. The padding's products are computed and never read. (Here n ≥ 9, so
        // m·n > 256: the one-column and m·n ≤ 256 products, where gemm takes other kernels
        // for a factor by rows and which were kept by rows for that, are `narrow`'s.)
        let by_rows = lhs.2 == 1 && lhs.1 == k;
        let height = if by_rows { m.next_multiple_of(16) } else { m };
        let lhs_by_columns = by_rows.then(|| {
            let mut transposed = scratch::scratch(height * k);
            E::kernel_transpose(&lhs.0[..m * k], (m, k), (&mut transposed, height));
            transposed
        });
        let lhs = match &lhs_by_columns {
            Some(transposed) => (&transposed[..], 1, height),
            None => lhs,
        };
        let mut by_columns = scratch::scratch(height * n);
        product(
            (height, n, k),
            (&mut by_columns, 1, height),
            false,
            lhs,
            rhs,
        );
        if let Some(transposed) = lhs_by_columns {
            scratch::give_back(transposed);
        }
        for (r, row) in dst.chunks_mut(dst_rs).take(m).enumerate() {
            for (j, d) in row[..n].iter_mut().enumerate() {
                let v = by_columns[j * height + r];
                *d = if accumulate { *d + v } else { v };
            }
        }
        scratch::give_back(by_columns);
        return;
    }
    // SAFETY: each buffer holds every element its shape and strides reach (asserted above),
    // `dst` is borrowed mutably and so overlaps neither factor, and gemm reads the old
    // `dst` only when told to accumulate (alpha = 1), writing dst := alpha·dst + 1·lhs·rhs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.0.as_ptr(),
            lhs.2 as isize,
            lhs.1 as isize,
            rhs.0.as_ptr(),
            rhs.2 as isize,
            rhs.1 as isize,
            E::one(),
            E::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// log Σ_k π_jk N(z_tj | μ_jk, σ²_jk) for every row t and dimension j: the Gaussian
/// mixtures' log-density (eq. 21–22) as one op, for z (rows × n) and the mixtures'
/// log-weights log π, means μ and log-variances η = log σ² (each n × K).
///
/// The unfused graph broadcast everything to (rows, n, K) and ran about a dozen ops
/// there, each forward and backward. Here each cell's K terms a_k = log π_k − ½η_k −
/// ½(z − μ_k)²/σ²_k − ½ log 2π are formed and log-sum-exp'd (shifted by their largest),
/// and the responsibilities r_k = exp(a_k − out) are kept for the backward pass (0 where
/// `negligible`), where with the output's gradient g:
/// ∂/∂z = −g Σ_k r_k (z − μ_k)/σ²_k, ∂/∂log π_k = g r_k, ∂/∂μ_k = g r_k (z − μ_k)/σ²_k,
/// ∂/∂η_k = g r_k ((z − μ_k)²/σ²_k − 1)/2.
pub(crate) fn mixture_log_density<E: Real>(
    z: Traced<E>,
    log_pi: Traced<E>,
    means: Traced<E>,
    log_vars: Traced<E>,
) -> Traced<E> {
    let (rows, n) = *z.shape();
    let k = log_pi.shape().1;
    for t in [&log_pi, &means, &log_vars] {
        assert_eq!(
            *t.shape(),
            (n, k),
            "one mixture of K components per dimension"
        );
    }
    let (z, tape) = z.split_tape();
    let (log_pi, pi_tape) = log_pi.split_tape();
    let (means, means_tape) = means.split_tape();
    let (log_vars, vars_tape) = log_vars.split_tape();
    let mut tape = tape.merge(pi_tape).merge(means_tape).merge(vars_tape);
    let eta = contents(&log_vars);
    let mixtures = Mixtures {
        log_pi: contents(&log_pi),
        means: contents(&means),
        inv_vars: eta.iter().map(|&v| (-v).exp()).collect(),
        offsets: eta
            .iter()
            .map(|&v| super::c::<E>(-0.5 * crate::numeric::LN_2PI) - v * super::c(0.5))
            .collect(),
    };
    // Column by column: the cells of dimension j share its mixture, so with z's columns
    // side by side every loop below runs along the rows with one component's numbers
    // fixed, and vectorises. Each cell's K terms, shifted by their largest, exponentiated
    // and normalised, are the responsibilities ([j][k][row]), which the backward pass
    // reads instead of recomputing them. Cell by cell the arithmetic is that of the
    // scalar form (`mixture_cell_by_cell` in the tests), to the bit.
    let column = rows.max(1); // a column's length for `chunks` (none when there are no rows)
    let z_columns = transposed(&contents(&z), (rows, n));
    let mut responsibilities = vec![E::zero(); n * k * rows];
    // log p of each cell, [j][row]: the largest term, then plus the log of the sum.
    let mut log_p = vec![E::neg_infinity(); n * rows];
    let per_dimension = z_columns
        .chunks_exact(column)
        .zip(responsibilities.chunks_exact_mut(k * column))
        .zip(log_p.chunks_exact_mut(column));
    for (j, ((z, terms), top)) in per_dimension.enumerate() {
        for (c, terms) in terms.chunks_exact_mut(column).enumerate() {
            let at = j * k + c;
            let (weight, mean) = (
                mixtures.log_pi[at] + mixtures.offsets[at],
                mixtures.means[at],
            );
            mixture_terms(z, (weight, mean, mixtures.inv_vars[at]), terms, top);
        }
        for terms in terms.chunks_exact_mut(column) {
            subtract(terms, top);
        }
    }
    exp_in_place(&mut responsibilities);
    let mut sums = vec![E::zero(); rows];
    for (r, log_p) in responsibilities
        .chunks_exact_mut(k * column)
        .zip(log_p.chunks_exact_mut(column))
    {
        sums.fill(E::zero());
        for r in r.chunks_exact(column) {
            add_into(&mut sums, r);
        }
        for (value, &sum) in log_p.iter_mut().zip(&sums) {
            *value += sum.ln();
        }
        for r in r.chunks_exact_mut(column) {
            normalise(r, &sums);
        }
    }
    let out = super::tensor_of(
        z.device(),
        transposed(&log_p, (n, rows)).into_iter(),
        (rows, n),
    );
    let ghosts = (
        out.ghost(),
        z.ghost(),
        log_pi.ghost(),
        means.ghost(),
        log_vars.ghost(),
    );
    tape.add_backward_op(move |grads| {
        let (out, z, log_pi, means, log_vars) = ghosts;
        let g = transposed(E::cells(grads.get_or_alloc_mut(&out)?), (rows, n));
        let mut d_pi = vec![E::zero(); n * k];
        let mut d_means = vec![E::zero(); n * k];
        let mut d_vars = vec![E::zero(); n * k];
        // ∂/∂z by columns: each cell's sum over its components, in their order.
        let mut d_z = vec![E::zero(); n * rows];
        let per_dimension = z_columns
            .chunks_exact(column)
            .zip(g.chunks_exact(column))
            .zip(responsibilities.chunks_exact(k * column))
            .zip(d_z.chunks_exact_mut(column));
        for (j, (((z, g), r), d_z)) in per_dimension.enumerate() {
            for (c, r) in r.chunks_exact(column).enumerate() {
                let at = j * k + c;
                let (mean, inv_var) = (mixtures.means[at], mixtures.inv_vars[at]);
                let sums = mixture_backward(z, g, r, (mean, inv_var), d_z);
                (d_pi[at], d_means[at], d_vars[at]) = sums;
            }
        }
        add_into(
            E::cells(grads.get_or_alloc_mut(&z)?),
            &transposed(&d_z, (n, rows)),
        );
        for (t, d) in [(&log_pi, d_pi), (&means, d_means), (&log_vars, d_vars)] {
            add_into(E::cells(grads.get_or_alloc_mut(t)?), &d);
        }
        Ok(())
    });
    out.put_tape(tape)
}

/// The mixtures' numbers, row-major (n × K), as the kernel reads them.
struct Mixtures<E> {
    log_pi: Vec<E>,
    means: Vec<E>,
    inv_vars: Vec<E>,
    /// −½ log 2π − ½η_k: each component's log-density without its quadratic term.
    offsets: Vec<E>,
}

/// The transpose of a row-major (rows × cols) matrix, by the kernels' own transpose
/// (`Engine::kernel_transpose`, 8 × 8 blocks in f32): how the mixture op turns z and its
/// gradients into columns side by side, and its results back into rows.
fn transposed<E: Real>(values: &[E], (rows, cols): (usize, usize)) -> Vec<E> {
    let mut t = vec![E::zero(); rows * cols];
    E::kernel_transpose(values, (rows, cols), (&mut t, rows));
    t
}

vectorised! {
    /// terms[t] ← a, one component's log π + log N(z_t | μ, σ²) (weight = log π − ½η −
    /// ½ log 2π), and top[t] ← max(top[t], a).
    fn mixture_terms<E: Real>(z: &[E], (weight, mean, inv_var): (E, E, E), terms: &mut [E], top: &mut [E]) {
        for ((a, top), &z) in terms.iter_mut().zip(top.iter_mut()).zip(z) {
            let d = z - mean;
            *a = weight - super::c::<E>(0.5) * d * d * inv_var;
            *top = top.max(*a);
        }
    }
}

vectorised! {
    /// One component's part of the backward pass along a column: d_z[t] −= g r (z − μ)/σ²,
    /// and its parameters' gradients, the sums over the rows of g r, g r (z − μ)/σ² and
    /// g r ((z − μ)²/σ² − 1)/2.
    fn mixture_backward<E: Real>(z: &[E], g: &[E], r: &[E], (mean, inv_var): (E, E), d_z: &mut [E]) -> (E, E, E) {
        for (((&z, &g), &r), d_z) in z.iter().zip(g).zip(r).zip(d_z) {
            *d_z -= g * r * ((z - mean) * inv_var);
        }
        // Sums in order, which do not vectorise; apart from the loop above, so that it does.
        let (half, one) = (super::c::<E>(0.5), E::one());
        let (mut d_pi, mut d_mean, mut d_var) = (E::zero(), E::zero(), E::zero());
        for ((&z, &g), &r) in z.iter().zip(g).zip(r) {
            let r = g * r;
            let scaled = (z - mean) * inv_var;
            d_pi += r;
            d_mean += r * scaled;
            d_var += r * half * (scaled * (z - mean) - one);
        }
        (d_pi, d_mean, d_var)
    }
}

vectorised! {
    /// values[i] −= by[i].
    fn subtract<E: Real>(values: &mut [E], by: &[E]) {
        for (v, &b) in values.iter_mut().zip(by) {
            *v -= b;
        }
    }
}

/// Below this a component's unnormalised term e^(a_k − top) is taken as 0 in the
/// responsibilities (not in the sum, which it cannot move: the largest term is 1).
///
/// Why: a component far from a point has a responsibility down to 1e-38 (the exponential
/// is cut at f32's least normal number), and the backward pass multiplies it by the
/// output's gradient (about 1/T): a subnormal product, which an Intel core computes
/// through a microcode assist a hundred times slower. As a fit goes on and the
/// components part, more cells have such components: on an AVX-512 Xeon the backward
/// loop went from 1.5 % of an epoch in the first 600 epochs to 9.5 % over 1500, and a
/// 4000-epoch fit of `nonlinear.pdg` ran at 300 epochs/s against 341 for the first 400.
/// Left out, such a term changes a gradient by less than 2⁻⁶⁴ of the largest term's
/// share, far below f32's resolution, so the numbers are those of the exact
/// responsibilities but where a gradient is made of such terms alone (it is then 0, where
/// it was a subnormal or a number 10¹⁸ times smaller than its neighbours').
fn negligible<E: Real>() -> E {
    super::c(2f64.powi(-64))
}

vectorised! {
    /// values[i] ← values[i] / by[i], or 0 where values[i] is `negligible` (set to 0
    /// before dividing, so that the division makes no subnormal number either).
    fn normalise<E: Real>(values: &mut [E], by: &[E]) {
        let (cut, zero) = (negligible::<E>(), E::zero());
        for (v, &b) in values.iter_mut().zip(by) {
            let kept = if *v < cut { zero } else { *v };
            *v = kept / b;
        }
    }
}

vectorised! {
    /// values[i] ← e^values[i].
    fn exp_in_place<E: Real>(values: &mut [E]) {
        values.iter_mut().for_each(|a| *a = a.kernel_exp());
    }
}

/// ln Γ((ν + 1)/2) − ln Γ(ν/2) of each entry ν of `dof`: the Student-t prior's normaliser,
/// which dfdx has no op for. Computed in f64 (statrs) and differentiated with the digamma
/// function.
pub(crate) fn student_t_normaliser<E: Real>(dof: Traced<E>) -> Traced<E> {
    use crate::numeric::{student_t_normaliser, student_t_normaliser_derivative};
    let shape = *dof.shape();
    let (dof, tape) = dof.split_tape();
    let nu: Vec<f64> = contents(&dof)
        .iter()
        .map(|v| v.to_f64().unwrap_or(f64::NAN))
        .collect();
    let out = super::tensor_of(
        dof.device(),
        nu.iter().map(|&v| super::c::<E>(student_t_normaliser(v))),
        shape,
    );
    let mut tape = tape;
    let ghosts = (out.ghost(), dof.ghost());
    tape.add_backward_op(move |grads| {
        let (out, dof) = ghosts;
        let g = E::cells(grads.get_or_alloc_mut(&out)?).to_vec();
        let d: Vec<E> = g
            .iter()
            .zip(&nu)
            .map(|(&g, &v)| g * super::c::<E>(student_t_normaliser_derivative(v)))
            .collect();
        add_into(E::cells(grads.get_or_alloc_mut(&dof)?), &d);
        Ok(())
    });
    out.put_tape(tape)
}

/// values[r][j] ← act(values[r][j] + bias[j]): one loop per activation, the choice
/// outside it, so that each loop vectorises.
fn apply_bias_activation<E: Real>(values: &mut [E], bias: &[E], act: Activation) {
    match act {
        Activation::Tanh => add_then(values, bias, E::kernel_tanh),
        Activation::Sigmoid => add_then(values, bias, sigmoid),
        Activation::Relu => add_then(values, bias, |x| x.max(E::zero())),
        Activation::LeakyRelu => add_then(values, bias, |x| x.max(x * leaky_slope())),
        Activation::Elu => add_then(values, bias, |x| match x > E::zero() {
            true => x,
            false => x.exp() - E::one(),
        }),
        Activation::Identity => add_then(values, bias, |x| x),
    }
}

/// grad ← grad ⊙ act′, act′ from the activation's output `y`, and grad_b += its column
/// sums.
fn activation_chain_rule<E: Real>(grad: &mut [E], y: &[E], grad_b: &mut [E], act: Activation) {
    let (zero, one) = (E::zero(), E::one());
    match act {
        Activation::Tanh => chain_rule(grad, y, grad_b, |y| one - y * y),
        Activation::Sigmoid => chain_rule(grad, y, grad_b, |y| y * (one - y)),
        Activation::Relu => chain_rule(grad, y, grad_b, |y| match y > zero {
            true => one,
            false => zero,
        }),
        Activation::LeakyRelu => chain_rule(grad, y, grad_b, |y| match y > zero {
            true => one,
            false => leaky_slope(),
        }),
        // y = e^x − 1 for x ≤ 0, so the derivative e^x is y + 1.
        Activation::Elu => chain_rule(grad, y, grad_b, |y| match y > zero {
            true => one,
            false => y + one,
        }),
        // The identity's output is not kept (`dense_chain` hands it over): its
        // derivative is 1, so only the bias's column sums are left.
        Activation::Identity => column_sums(grad, grad_b),
    }
}

/// into[i] += from[i]: how a gradient is added to what a buffer already holds.
pub(crate) fn add_into<E: Real>(into: &mut [E], from: &[E]) {
    assert_eq!(into.len(), from.len(), "a gradient of the buffer's shape");
    for (acc, &v) in into.iter_mut().zip(from) {
        *acc += v;
    }
}

/// A tensor's numbers, copied out (dfdx's `as_vec` walks them index by index).
fn contents<E: Real, T>(t: &Tensor<(usize, usize), E, super::Dev<E>, T>) -> Vec<E> {
    let (rows, cols) = *t.shape();
    let mut values = vec![E::zero(); rows * cols];
    t.copy_into(&mut values);
    values
}

vectorised! {
    /// values[r][j] ← f(values[r][j] + bias[j]).
    #[inline]
    fn add_then<E: Real>(values: &mut [E], bias: &[E], f: impl Fn(E) -> E) {
        for row in values.chunks_exact_mut(bias.len()) {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v = f(*v + b);
            }
        }
    }
}

/// σ(x) = (1 + tanh(x/2))/2, through the same vectorisable tanh.
#[inline]
fn sigmoid<E: Real>(x: E) -> E {
    let half = super::c::<E>(0.5);
    half + half * (x * half).kernel_tanh()
}

/// e^x for f32 as Cephes' `expf` computes it: x = n ln 2 + r with |r| ≤ ½ ln 2, a degree-6
/// polynomial for e^r, and 2^n put into the exponent bits. n is rounded by adding and
/// subtracting 1.5·2^23, not by `round`, so that loops over it vectorise without SSE4.
/// The polynomial's steps are fused multiply-adds, as in `tanh_f32`.
/// Within 2e-7 (relative) of e^x; 0 below −87.3, where e^x leaves f32's normal range
/// (`exp_f32_is_within_2e_7_of_exp`).
#[inline]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const LOWEST: f32 = -87.336_55;
    const HIGHEST: f32 = 88.722_84;
    const ROUND: f32 = 12_582_912.0; // 1.5·2^23
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    const P: [f32; 6] = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5, // Cephes: 5.0000001201e-1, which is 0.5 in f32
    ];
    let clamped = x.clamp(LOWEST, HIGHEST);
    let n = (clamped * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = clamped - n * LN2_HIGH - n * LN2_LOW;
    let mut p = P[0];
    for &c in &P[1..] {
        p = p.mul_add(r, c);
    }
    let e_r = (p * r).mul_add(r, r) + 1.0;
    let two_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    match x < LOWEST {
        true => 0.0,
        false => e_r * two_n,
    }
}

/// tanh for f32 as Eigen computes it (`generic_fast_tanh_float`): a 13/6 rational
/// approximation on [−7.905, 7.905], where tanh reaches 1 in f32, and clamped outside.
/// Only products, sums and one division, so loops over it vectorise; within 4e-7 of
/// tanh everywhere (`tanh_f32_is_within_4e_7_of_tanh` checks a grid in f64).
///
/// Both polynomials are evaluated by fused multiply-adds (Horner's steps as `mul_add`),
/// as Eigen does where the CPU has FMA: one rounding a step instead of two and half the
/// instructions in the dependency chain. In the loops that call it (`vectorised!`, built
/// for AVX2 + FMA and for AVX-512) that is one `vfmadd` a step, and the bias-and-tanh loop
/// took about a quarter less time (0.78 → 0.58 ns an element on the AVX2 machine). On a
/// CPU without FMA, multiversion's fallback calls libm's `fmaf`, exact and slower: the
/// numbers are the same on every CPU.
#[inline]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const ALPHA: [f32; 7] = [
        4.893_524_6e-3,
        6.372_619_3e-4,
        1.485_722_4e-5,
        5.122_297e-8,
        -8.604_672e-11,
        2.000_188e-13,
        -2.760_768_5e-16,
    ];
    const BETA: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let mut p = ALPHA[6];
    for &a in ALPHA[..6].iter().rev() {
        p = p.mul_add(x2, a);
    }
    let mut q = BETA[3];
    for &b in BETA[..3].iter().rev() {
        q = q.mul_add(x2, b);
    }
    x * p / q
}

vectorised! {
    /// grad[r][j] ← grad[r][j]·d(y[r][j]), the gradient of the activation's input from its
    /// output's, with d the derivative as a function of the output; grad_b[j] gathers its
    /// column sums, the bias's gradient.
    #[inline]
    fn chain_rule<E: Real>(grad: &mut [E], y: &[E], grad_b: &mut [E], d: impl Fn(E) -> E) {
        // The rows are zipped: a short `y` (an output not kept) would skip rows silently.
        assert_eq!(grad.len(), y.len(), "an output for every gradient");
        let cols = grad_b.len();
        for (g_row, y_row) in grad.chunks_exact_mut(cols).zip(y.chunks_exact(cols)) {
            for ((g, &y), gb) in g_row.iter_mut().zip(y_row).zip(grad_b.iter_mut()) {
                *g *= d(y);
                *gb += *g;
            }
        }
    }
}

/// grad_b[j] += the sum of grad's column j.
fn column_sums<E: Real>(grad: &[E], grad_b: &mut [E]) {
    for row in grad.chunks_exact(grad_b.len()) {
        for (gb, &g) in grad_b.iter_mut().zip(row) {
            *gb += g;
        }
    }
}

/// The leaky ReLU's slope below 0.
fn leaky_slope<E: Real>() -> E {
    super::c(0.01)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Mat;

    /// The graph the fused op replaces: a product with a column of ones adds the bias,
    /// then dfdx's own activation ops.
    fn unfused(pre: Traced<f64>, b: Traced<f64>, act: Activation) -> Traced<f64> {
        let rows = pre.shape().0;
        let ones: Mat<f64> = pre.device().ones_like(&(rows, 1));
        let x = pre + ones.leaky_trace().matmul(b);
        match act {
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Relu => x.relu(),
            Activation::LeakyRelu => x.prelu(0.01),
            Activation::Elu => {
                let negative_part = x.with_empty_tape().negate().relu().negate().exp() - 1.0;
                x.relu() + negative_part
            }
            Activation::Identity => x,
        }
    }

    /// The graph `mixture_log_density` replaces: everything broadcast to (rows, n, K).
    fn unfused_mixture(
        z: Traced<f64>,
        log_pi: Traced<f64>,
        means: Traced<f64>,
        log_vars: Traced<f64>,
    ) -> Traced<f64> {
        let (rows, n) = *z.shape();
        let shape = (rows, n, log_pi.shape().1);
        let z = z.broadcast_like::<_, Axis<2>>(&shape);
        let means = means.broadcast_like::<_, Axis<0>>(&shape);
        let log_vars = log_vars.broadcast_like::<_, Axis<0>>(&shape);
        let log_pi = log_pi.broadcast_like::<_, Axis<0>>(&shape);
        let inv_var = log_vars.with_empty_tape().negate().exp();
        let quad = (z - means).square() * inv_var;
        let ln_2pi = crate::numeric::LN_2PI;
        let comp = log_pi - log_vars * 0.5 - quad * 0.5 - 0.5 * ln_2pi;
        comp.logsumexp::<(usize, usize), Axis<2>>()
    }

    fn matrix(dev: &Cpu, rows: usize, cols: usize, f: impl Fn(usize) -> f64) -> Mat<f64> {
        let mut t: Mat<f64> = dev.zeros_like(&(rows, cols));
        t.copy_from(&(0..rows * cols).map(f).collect::<Vec<_>>());
        t
    }

    #[test]
    fn mixture_log_density_matches_the_unfused_graph_in_value_and_gradient() {
        let dev = Cpu::seed_from_u64(3);
        let (rows, n, k) = (17, 3, 4);
        // Rows near and far from the components (far: one component dominates and the
        // others' responsibilities underflow), and a padding-like component of log-weight
        // −1e30 as the mixtures of fewer components have.
        let z = matrix(&dev, rows, n, |i| ((i * 13 % 23) as f64 - 11.0) * 0.9);
        let log_pi = matrix(&dev, n, k, |i| match i % k {
            3 if i / k == 1 => -1e30,
            c => (c as f64 * 0.7).sin(),
        });
        let means = matrix(&dev, n, k, |i| (i as f64 - 6.0) * 0.8);
        let log_vars = matrix(&dev, n, k, |i| ((i * 5 % 7) as f64 - 3.0) * 0.6);
        let weights = matrix(&dev, rows, n, |i| (i % 5) as f64 - 1.5);
        let run = |fused: bool| {
            let args = (
                z.clone().leaky_trace(),
                log_pi.clone().leaky_trace(),
                means.clone().leaky_trace(),
                log_vars.clone().leaky_trace(),
            );
            let y = match fused {
                true => mixture_log_density(args.0, args.1, args.2, args.3),
                false => unfused_mixture(args.0, args.1, args.2, args.3),
            };
            let values = y.as_vec();
            let grads = (y * weights.clone()).sum::<(), _>().backward();
            let g = |t: &Mat<f64>| grads.get(t).as_vec();
            [values, g(&z), g(&log_pi), g(&means), g(&log_vars)]
        };
        let (fused, plain) = (run(true), run(false));
        for (what, (a, b)) in ["value", "d/dz", "d/dlog_pi", "d/dmeans", "d/dlog_vars"]
            .iter()
            .zip(fused.iter().zip(&plain))
        {
            for (i, (p, q)) in a.iter().zip(b).enumerate() {
                assert!(
                    (p - q).abs() <= 1e-11 * (1.0 + q.abs()),
                    "{what}[{i}]: {p} vs {q}"
                );
            }
        }
    }

    /// The op's value and gradients (z, log π, μ, η) in f32, for z (rows × n) with the
    /// mixtures' numbers (n × K) and the output's gradient g.
    fn mixture_op_f32(
        dev: &Cpu,
        (z, n): (&[f32], usize),
        (log_pi, means, log_vars, k): (&[f32], &[f32], &[f32], usize),
        g: &[f32],
    ) -> [Vec<f32>; 5] {
        let tensor = |values: &[f32], shape: (usize, usize)| {
            let mut t: Mat<f32> = dev.zeros_like(&shape);
            t.copy_from(values);
            t
        };
        let rows = z.len() / n;
        let (zt, pi, mu, lv) = (
            tensor(z, (rows, n)),
            tensor(log_pi, (n, k)),
            tensor(means, (n, k)),
            tensor(log_vars, (n, k)),
        );
        let y = mixture_log_density(
            zt.clone().leaky_trace(),
            pi.clone().leaky_trace(),
            mu.clone().leaky_trace(),
            lv.clone().leaky_trace(),
        );
        let values = y.as_vec();
        let grads = (y * tensor(g, (rows, n))).sum::<(), _>().backward();
        [
            values,
            grads.get(&zt).as_vec(),
            grads.get(&pi).as_vec(),
            grads.get(&mu).as_vec(),
            grads.get(&lv).as_vec(),
        ]
    }

    /// The mixture's value and gradients as the op computed them cell by cell, each cell's
    /// K terms side by side (before it went column by column): the arithmetic the op
    /// keeps, so that every fit gives the numbers it gave. (Since the responsibilities
    /// below `negligible` became 0 here too, a gradient made of such terms alone is 0.)
    fn mixture_cell_by_cell(
        (z, n): (&[f32], usize),
        (log_pi, means, log_vars, k): (&[f32], &[f32], &[f32], usize),
        g: &[f32],
    ) -> [Vec<f32>; 5] {
        let inv_vars: Vec<f32> = log_vars.iter().map(|&v| (-v).exp()).collect();
        let offsets: Vec<f32> = log_vars
            .iter()
            .map(|&v| crate::backend::c::<f32>(-0.5 * crate::numeric::LN_2PI) - v * 0.5)
            .collect();
        let (mut values, mut d_z) = (vec![0.0; z.len()], vec![0.0; z.len()]);
        let (mut d_pi, mut d_means, mut d_vars) =
            (vec![0.0; n * k], vec![0.0; n * k], vec![0.0; n * k]);
        for (i, &zv) in z.iter().enumerate() {
            let j = i % n;
            let mut terms: Vec<f32> = (0..k)
                .map(|c| {
                    let d = zv - means[j * k + c];
                    log_pi[j * k + c] + offsets[j * k + c] - 0.5 * d * d * inv_vars[j * k + c]
                })
                .collect();
            let top = terms.iter().fold(f32::NEG_INFINITY, |m, &a| m.max(a));
            terms.iter_mut().for_each(|a| *a = exp_f32(*a - top));
            let sum = terms.iter().fold(0.0, |s, &a| s + a);
            values[i] = top + sum.ln();
            let mut dz = 0.0;
            for (c, &r) in terms.iter().enumerate() {
                let at = j * k + c;
                let r = g[i] * (if r < negligible::<f32>() { 0.0 } else { r } / sum);
                let scaled = (zv - means[at]) * inv_vars[at];
                dz -= r * scaled;
                d_pi[at] += r;
                d_means[at] += r * scaled;
                d_vars[at] += r * 0.5 * (scaled * (zv - means[at]) - 1.0);
            }
            d_z[i] = dz;
        }
        [values, d_z, d_pi, d_means, d_vars]
    }

    #[test]
    fn mixture_log_density_gives_the_cell_by_cell_numbers_to_the_bit() {
        let dev: Cpu = Cpu::seed_from_u64(5);
        let (rows, n, k) = (37, 3, 3);
        let numbers = |len: usize, f: &dyn Fn(usize) -> f32| (0..len).map(f).collect::<Vec<f32>>();
        let z = numbers(rows * n, &|i| ((i * 29 % 41) as f32 - 20.0) * 0.37);
        let log_pi = numbers(n * k, &|i| {
            if i == 5 {
                -1e30
            } else {
                (i as f32 * 0.9).sin() - 1.2
            }
        });
        let means = numbers(n * k, &|i| (i as f32 - 4.0) * 0.7);
        let log_vars = numbers(n * k, &|i| ((i * 5 % 7) as f32 - 3.0) * 0.4);
        let g = numbers(rows * n, &|i| ((i % 9) as f32 - 3.5) * 0.3);
        let fused = mixture_op_f32(&dev, (&z, n), (&log_pi, &means, &log_vars, k), &g);
        let cells = mixture_cell_by_cell((&z, n), (&log_pi, &means, &log_vars, k), &g);
        for (what, (a, b)) in ["value", "d/dz", "d/dlog_pi", "d/dmeans", "d/dlog_vars"]
            .iter()
            .zip(fused.iter().zip(&cells))
        {
            assert_eq!(a.len(), b.len(), "{what}: as many numbers");
            for (i, (p, q)) in a.iter().zip(b).enumerate() {
                assert_eq!(p.to_bits(), q.to_bits(), "{what}[{i}]: {p} vs {q}");
            }
        }
    }

    /// A component 60 log-units below a cell's best has a responsibility of about 1e-26,
    /// which times a gradient of 1e-15 would be subnormal (slow on Intel cores): it is
    /// left out, so its parameters' gradients are exactly 0, every number is 0 or
    /// normal, and the value and the near component's gradients are what they were.
    #[test]
    fn negligible_responsibilities_make_no_subnormal_numbers() {
        let dev: Cpu = Cpu::seed_from_u64(6);
        let rows = 16;
        let z: Vec<f32> = (0..rows).map(|i| 0.01 * i as f32).collect();
        // Component 0 at the cells; component 1 at 11, a (11 − z)²/2 ≈ 60 further down.
        let (log_pi, means, log_vars) = ([0.0f32, 0.0], [0.0f32, 11.0], [0.0f32, 0.0]);
        let g = vec![1e-15f32; rows];
        let [values, d_z, d_pi, d_mu, d_lv] =
            mixture_op_f32(&dev, (&z, 1), (&log_pi, &means, &log_vars, 2), &g);
        for (what, numbers) in [
            ("value", &values),
            ("d/dz", &d_z),
            ("d/dlog_pi", &d_pi),
            ("d/dmeans", &d_mu),
            ("d/dlog_vars", &d_lv),
        ] {
            for (i, v) in numbers.iter().enumerate() {
                assert!(*v == 0.0 || v.is_normal(), "{what}[{i}] = {v:e}");
            }
        }
        assert_eq!([d_pi[1], d_mu[1], d_lv[1]], [0.0; 3], "the far component's");
        // The near component holds each cell whole: log π₀ + log N(z | 0, 1), and its
        // log-weight's gradient the sum of g.
        for (&v, &z) in values.iter().zip(&z) {
            let exact = -0.5 * crate::numeric::LN_2PI - 0.5 * (z as f64).powi(2);
            assert!((v as f64 - exact).abs() < 1e-6, "{v} vs {exact}");
        }
        assert!((d_pi[0] as f64 - 16e-15).abs() < 1e-20, "{}", d_pi[0]);
    }

    #[test]
    fn exp_f32_is_within_2e_7_of_exp() {
        let mut worst = 0.0f64;
        for i in -1_000_000..=1_000_000 {
            let x = i as f32 * 8.8e-5; // [−88, 88]
            let exact = (x as f64).exp();
            let error = (exp_f32(x) as f64 - exact).abs() / exact;
            if x > -87.3 {
                worst = worst.max(error);
            }
        }
        assert!(worst < 2e-7, "largest relative error {worst}");
        assert_eq!(exp_f32(-100.0), 0.0);
        assert_eq!(exp_f32(-1e30), 0.0);
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(f32::NAN).is_nan());
    }

    #[test]
    fn tanh_f32_is_within_4e_7_of_tanh() {
        let mut worst = 0.0f64;
        for i in -2_000_000..=2_000_000 {
            let x = i as f32 * 1e-5 * 1.5; // [−30, 30]
            let error = (tanh_f32(x) as f64 - (x as f64).tanh()).abs();
            worst = worst.max(error);
        }
        assert!(worst < 4e-7, "largest error {worst}");
        assert_eq!(tanh_f32(f32::INFINITY), tanh_f32(1e30));
        assert!(tanh_f32(f32::NAN).is_nan());
    }

    /// The narrow product transposes a left factor given by rows before gemm sees it;
    /// before d7df2cb gemm was given it by rows and packed it itself. Each product here
    /// is computed both ways, the old one by calling gemm as `product` did then: the
    /// same numbers to the bit, the padding rows never showing.
    #[test]
    fn a_narrow_product_gives_the_bits_it_gave_before_its_factor_was_transposed() {
        // Narrower products (n ≤ 8 with lhs by rows, or k ≤ 8) are `narrow`'s: here the
        // widths from 9 to 15.
        for (m, k, n) in [
            (625, 64, 9),
            (5000, 64, 12),
            (640, 30, 10),
            (37, 12, 9),
            (64, 30, 15),
        ] {
            let lhs: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7919) % 1013) as f32 / 97.0 - 5.0)
                .collect();
            let rhs: Vec<f32> = (0..k * n)
                .map(|i| ((i * 104_729) % 211) as f32 / 31.0 - 3.0)
                .collect();
            // The right factor by rows (x·W) and by columns (g·Wᵀ, W read with its
            // strides swapped): gemm takes different kernels for the two.
            for ((rhs_rs, rhs_cs), accumulate) in [
                ((n, 1), false),
                ((n, 1), true),
                ((1, k), false),
                ((1, k), true),
            ] {
                let start: Vec<f32> = (0..m * n).map(|i| i as f32 * 0.25).collect();
                let mut now = start.clone();
                product(
                    (m, n, k),
                    (&mut now, n, 1),
                    accumulate,
                    (&lhs, k, 1),
                    (&rhs, rhs_rs, rhs_cs),
                );
                let mut by_columns = vec![0.0f32; m * n];
                // SAFETY: the buffers hold m × n, m × k and k × n elements, as strided.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        by_columns.as_mut_ptr(),
                        m as isize,
                        1,
                        false,
                        lhs.as_ptr(),
                        1,
                        k as isize,
                        rhs.as_ptr(),
                        rhs_cs as isize,
                        rhs_rs as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                let before: Vec<f32> = (0..m * n)
                    .map(|i| {
                        let v = by_columns[(i % n) * m + i / n];
                        if accumulate {
                            start[i] + v
                        } else {
                            v
                        }
                    })
                    .collect();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&now),
                    bits(&before),
                    "{m}×{k}·{k}×{n}, rhs strides {rhs_rs}, {rhs_cs}"
                );
            }
        }
    }

    /// The dense op against dfdx's product and the unfused bias and activation, value and
    /// every gradient, in f64: a small layer; a chunk of a shipped model's hidden layer
    /// and odd widths, where gemm's kernels and their edges run; and the narrow layers of
    /// 1 or 3 inputs or outputs, whose products are `narrow`'s.
    #[test]
    fn dense_matches_the_unfused_graph_in_value_and_gradient() {
        for (rows, inputs, cols) in [
            (13, 3, 5),
            (625, 64, 64),
            (257, 33, 65),
            (40, 1, 3),
            (625, 64, 3),
            (625, 3, 64),
        ] {
            let dev = Cpu::seed_from_u64(7);
            // Values on both sides of 0 and a few far out, where tanh and σ saturate.
            let x = matrix(&dev, rows, inputs, |i| ((i * 37 % 29) as f64 - 14.0) / 3.0);
            let w = matrix(&dev, inputs, cols, |i| {
                ((i % 15) as f64 - 7.0) * 0.4 / (inputs as f64).sqrt()
            });
            let b = matrix(&dev, 1, cols, |i| [0.3, -1.2, 0.0, 2.5, -0.05][i % 5]);
            // A downstream weighting, so that every output cell gets a different gradient.
            let weights = matrix(&dev, rows, cols, |i| (i % 7) as f64 - 2.5);
            for act in [
                Activation::Tanh,
                Activation::Sigmoid,
                Activation::Relu,
                Activation::LeakyRelu,
                Activation::Elu,
                Activation::Identity,
            ] {
                let run = |fused: bool| {
                    let (xt, wt, bt) = (
                        x.clone().leaky_trace(),
                        w.clone().leaky_trace(),
                        b.clone().leaky_trace(),
                    );
                    let y = match fused {
                        true => {
                            let layer = Layer { w: wt, b: bt, act };
                            dense_chain(xt, Activation::Identity, vec![layer], true)
                        }
                        false => unfused(xt.matmul(wt), bt, act),
                    };
                    let values = y.as_vec();
                    let grads = (y * weights.clone()).square().sum::<(), _>().backward();
                    (
                        values,
                        grads.get(&x).as_vec(),
                        grads.get(&w).as_vec(),
                        grads.get(&b).as_vec(),
                    )
                };
                let (fused, plain) = (run(true), run(false));
                let close = |a: &[f64], b: &[f64], what: &str| {
                    assert_eq!(a.len(), b.len());
                    for (i, (p, q)) in a.iter().zip(b).enumerate() {
                        assert!(
                            (p - q).abs() <= 1e-11 * (1.0 + q.abs()),
                            "{rows}×{inputs}×{cols} {act:?} {what}[{i}]: {p} vs {q}"
                        );
                    }
                };
                close(&fused.0, &plain.0, "value");
                close(&fused.1, &plain.1, "d/dx");
                close(&fused.2, &plain.2, "d/dW");
                close(&fused.3, &plain.3, "d/db");
            }
        }
    }

    /// A whole chain against the layers' unfused graphs one after another, in f64: a
    /// decoder's shape (3 → 64 → 33 → 3, the last an output projection) with mixed
    /// activations, reading its input as it is and through a sigmoid (IMA-VAE's decoder
    /// of sigmoid(z)); value and the gradient of the input and of every weight and bias;
    /// each chain run twice, so that the second takes the first's spare buffers.
    #[test]
    fn a_chain_matches_its_layers_unfused_in_value_and_gradient() {
        for input in [Activation::Identity, Activation::Sigmoid] {
            chain_matches_its_layers_unfused(input);
        }
    }

    fn chain_matches_its_layers_unfused(input: Activation) {
        let dev = Cpu::seed_from_u64(11);
        let rows = 301;
        let widths = [3, 64, 33, 3];
        let acts = [Activation::Tanh, Activation::Elu, Activation::Identity];
        let x = matrix(&dev, rows, 3, |i| ((i * 37 % 29) as f64 - 14.0) / 5.0);
        let params: Vec<(Mat<f64>, Mat<f64>)> = (0..3)
            .map(|l| {
                let (inputs, cols) = (widths[l], widths[l + 1]);
                let w = matrix(&dev, inputs, cols, |i| {
                    (((i + l) * 7 % 15) as f64 - 7.0) * 0.4 / (inputs as f64).sqrt()
                });
                let b = matrix(&dev, 1, cols, |i| [0.3, -1.2, 0.0, 2.5, -0.05][(i + l) % 5]);
                (w, b)
            })
            .collect();
        let weights = matrix(&dev, rows, 3, |i| (i % 7) as f64 - 2.5);
        let run = |fused: bool| {
            let xt = x.clone().leaky_trace();
            let traced: Vec<_> = (params.iter())
                .map(|(w, b)| (w.clone().leaky_trace(), b.clone().leaky_trace()))
                .collect();
            let y = match fused {
                true => {
                    let layers = (traced.into_iter().zip(acts))
                        .map(|((w, b), act)| Layer { w, b, act })
                        .collect();
                    dense_chain(xt, input, layers, true)
                }
                false => {
                    let xt = match input {
                        Activation::Sigmoid => xt.sigmoid(),
                        _ => xt,
                    };
                    (traced.into_iter().zip(acts))
                        .fold(xt, |h, ((w, b), act)| unfused(h.matmul(w), b, act))
                }
            };
            let values = y.as_vec();
            let grads = (y * weights.clone()).square().sum::<(), _>().backward();
            let mut all = vec![values, grads.get(&x).as_vec()];
            for (w, b) in &params {
                all.push(grads.get(w).as_vec());
                all.push(grads.get(b).as_vec());
            }
            all
        };
        let plain = run(false);
        for attempt in 0..2 {
            let fused = run(true);
            for (what, (a, b)) in fused.iter().zip(&plain).enumerate() {
                assert_eq!(a.len(), b.len());
                for (i, (p, q)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (p - q).abs() <= 1e-11 * (1.0 + q.abs()),
                        "{input:?} input, run {attempt}, output {what} [{i}]: {p} vs {q}"
                    );
                }
            }
        }
    }
}
