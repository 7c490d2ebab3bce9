//! Products with a narrow side, the latent dimension's few columns, computed along the
//! wide side: a layer into or out of the n latent dimensions (n = 3 in the examples).
//!
//! Why: gemm is built for products that are large every way. With one side of 3 it
//! fills 3 of its 8 or 16 lanes, or packs the other factor one element at a time, and
//! such a product (625 rows, 64 by 3) took a fifth of the time of a 64 × 64 one for 1/21
//! of its arithmetic: the eleven of them in a chunk's step through a 2 × 64 encoder and
//! decoder took 15 % of a `nonlinear.pdg` epoch (T = 5000, one thread, the AMD EPYC with
//! AVX2), the six 64 × 64 products 52 %. nano-gemm, a crate for small products, was no
//! faster on these shapes, slower on some (`docs/speed-d62cfb7/narrow-shapes.txt`). Here
//! the wide side is on the lanes, for all but a weight's gradient (its k the chunk's
//! rows), where gemm was as fast as these loops:
//! - **few outputs** (a projection to the means, the gradient handed back to z): each
//!   output is a dot product of a row of the left factor with a column of the right, k
//!   long, in 8 partial sums (`dots`);
//! - **few terms** (a first layer's k = 3 inputs, a gradient from a layer of 3 outputs):
//!   each output row is a combination of the right factor's k rows, 64 columns at a time
//!   in registers (`terms`).
//!
//! The numbers differ from gemm's in their last bits: the sums are in another order
//! (`narrow_products_match_the_product_in_f64`).

use super::super::Real;
use super::scratch::{give_back, scratch};
use multiversion::multiversion;
use std::borrow::Cow;

/// A product is narrow when its output, or its inner dimension, has at most this many
/// columns.
const FEW: usize = 8;

/// A dot product's partial sums: one AVX2 register of f32.
const LANES: usize = 8;

/// A matrix as `product` takes it: (buffer, row stride, column stride).
type Strided<'a, E> = (&'a [E], usize, usize);

/// dst (m × n, by rows, contiguous) = lhs · rhs, or dst += lhs · rhs, for a narrow
/// product; returns false, computing nothing, for any other (gemm's case).
/// - k ≤ `FEW` terms: `few_terms`, the two factors read by rows (copied so where they lie
///   otherwise; their k side is the narrow one).
/// - n ≤ `FEW` outputs a row and lhs by rows: `dots`, with rhs's n columns (copied side
///   by side if they lie otherwise).
///
/// Not a weight's gradient with few inputs or outputs (k the chunk's rows, m or n ≤ 8):
/// computed along the rows as combinations it took 10–15 % longer than gemm.
pub(super) fn narrow_product<E: Real>(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs, dst_cs): (&mut [E], usize, usize),
    accumulate: bool,
    lhs: Strided<E>,
    rhs: Strided<E>,
) -> bool {
    if dst_cs != 1 || dst_rs != n || k == 0 {
        return false;
    }
    let dst = &mut dst[..m * n];
    if k <= FEW {
        let coefficients = by_rows(lhs, (m, k));
        let rows = by_rows(rhs, (k, n));
        few_terms(&coefficients, &rows, (k, n), dst, accumulate);
        hand_back(coefficients);
        hand_back(rows);
    } else if n <= FEW && lhs.2 == 1 && lhs.1 == k {
        let columns = by_rows(transposed(rhs), (n, k));
        E::kernel_dots(&lhs.0[..m * k], &columns, (k, n), dst, accumulate);
        hand_back(columns);
    } else {
        return false;
    }
    true
}

/// The (rows × cols) matrix `m` by rows, contiguous: itself where it lies so, else a copy
/// in a spare buffer (for a narrow factor, a few hundred elements to a few thousand).
fn by_rows<E: Real>(m: Strided<'_, E>, (rows, cols): (usize, usize)) -> Cow<'_, [E]> {
    let (buffer, rs, cs) = m;
    if cs == 1 && rs == cols {
        return Cow::Borrowed(&buffer[..rows * cols]);
    }
    let mut copy = scratch(rows * cols);
    for (i, row) in copy.chunks_exact_mut(cols).enumerate() {
        for (j, c) in row.iter_mut().enumerate() {
            *c = buffer[i * rs + j * cs];
        }
    }
    Cow::Owned(copy)
}

/// The matrix read the other way: its transpose, in the same buffer.
fn transposed<E>((buffer, rs, cs): Strided<'_, E>) -> Strided<'_, E> {
    (buffer, cs, rs)
}

/// A copy `by_rows` made goes back to the spares.
fn hand_back<E: Real>(matrix: Cow<'_, [E]>) {
    if let Cow::Owned(copy) = matrix {
        give_back(copy);
    }
}

/// dst[t][j] (+)= Σ_i lhs[t][i]·columns[j][i], each output a dot product k long of lhs's
/// row t (lhs rows × k) and column j of the right factor (`columns`, n × k): `LANES`
/// partial sums, the lane l of each taking the terms i ≡ l (mod `LANES`) in order with
/// fused multiply-adds, added pairwise ((0 + 1) + (2 + 3)) + ((4 + 5) + (6 + 7)), then
/// the last k mod `LANES` terms one at a time. In that order the AVX2 kernel
/// (`dots_f32`) computes the same numbers; this is its reference and the f64 version.
pub(crate) fn dots<E: Real>(
    lhs: &[E],
    columns: &[E],
    (k, n): (usize, usize),
    dst: &mut [E],
    accumulate: bool,
) {
    let whole = k - k % LANES;
    for (row, out) in lhs.chunks_exact(k).zip(dst.chunks_exact_mut(n)) {
        for (column, o) in columns.chunks_exact(k).zip(out.iter_mut()) {
            let mut l = [E::zero(); LANES];
            for b in (0..whole).step_by(LANES) {
                for (i, l) in l.iter_mut().enumerate() {
                    *l = row[b + i].mul_add(column[b + i], *l);
                }
            }
            let mut sum = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
            for i in whole..k {
                sum = row[i].mul_add(column[i], sum);
            }
            *o = if accumulate { *o + sum } else { sum };
        }
    }
}

/// `dots` for f32, in AVX2 registers where the CPU has AVX2 and FMA (the AVX-512 path too:
/// these are the same numbers on either).
pub(crate) fn dots_f32(
    lhs: &[f32],
    columns: &[f32],
    (k, n): (usize, usize),
    dst: &mut [f32],
    accumulate: bool,
) {
    let rows = dst.len() / n.max(1);
    assert!(
        lhs.len() >= rows * k && columns.len() >= n * k && dst.len() == rows * n,
        "the dot products' buffers"
    );
    #[cfg(target_arch = "x86_64")]
    if k > 0 && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        let mut first = 0;
        while first < n {
            let group = (n - first).min(4);
            let columns = &columns[first * k..(first + group) * k];
            // SAFETY: the CPU has AVX2 and FMA (just checked); lhs holds rows × k,
            // columns `group` × k and dst rows × n elements (asserted), first + group ≤ n.
            unsafe {
                match group {
                    1 => avx2::dots::<1>(lhs, columns, (k, n, first), dst, accumulate),
                    2 => avx2::dots::<2>(lhs, columns, (k, n, first), dst, accumulate),
                    3 => avx2::dots::<3>(lhs, columns, (k, n, first), dst, accumulate),
                    _ => avx2::dots::<4>(lhs, columns, (k, n, first), dst, accumulate),
                }
            }
            first += group;
        }
        return;
    }
    dots(lhs, columns, (k, n), dst, accumulate)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::LANES;
    use std::arch::x86_64::*;

    /// `dots` for the G ≤ 4 outputs first..first + G of each row, whose columns are
    /// `columns` (G × k): G registers of partial sums, lhs's row read once for all G,
    /// then the G sums' pairwise additions as two rounds of horizontal adds and one add
    /// of the halves.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; lhs holds dst.len() / n rows of k, `columns` G × k
    /// elements, and first + G ≤ n.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dots<const G: usize>(
        lhs: &[f32],
        columns: &[f32],
        (k, n, first): (usize, usize, usize),
        dst: &mut [f32],
        accumulate: bool,
    ) {
        let whole = k - k % LANES;
        let column = |j: usize| &columns[j * k..(j + 1) * k];
        let cols: [&[f32]; G] = std::array::from_fn(column);
        for (row, out) in lhs.chunks_exact(k).zip(dst.chunks_exact_mut(n)) {
            let mut sums = [_mm256_setzero_ps(); 4];
            for b in (0..whole).step_by(LANES) {
                // SAFETY: b + LANES ≤ whole ≤ k, the length of the row and of each column.
                unsafe {
                    let x = _mm256_loadu_ps(row.as_ptr().add(b));
                    for j in 0..G {
                        let w = _mm256_loadu_ps(cols[j].as_ptr().add(b));
                        sums[j] = _mm256_fmadd_ps(x, w, sums[j]);
                    }
                }
            }
            // Lane l of each half: (0 + 1) + (2 + 3) of sums[l], then the halves added.
            let quads = _mm256_hadd_ps(
                _mm256_hadd_ps(sums[0], sums[1]),
                _mm256_hadd_ps(sums[2], sums[3]),
            );
            let halves = _mm_add_ps(
                _mm256_castps256_ps128(quads),
                _mm256_extractf128_ps::<1>(quads),
            );
            let mut total = [0f32; 4];
            // SAFETY: total has room for the 4 lanes.
            unsafe { _mm_storeu_ps(total.as_mut_ptr(), halves) };
            for (j, (&col, mut sum)) in cols.iter().zip(total).enumerate() {
                for i in whole..k {
                    sum = row[i].mul_add(col[i], sum);
                }
                let o = &mut out[first + j];
                *o = if accumulate { *o + sum } else { sum };
            }
        }
    }
}

/// dst[t][·] (+)= Σ_i lhs[t][i]·rows[i][·] for k ≤ `FEW` terms: each output row the
/// combination of the right factor's k rows with lhs's row t, 64 columns at a time (as
/// many as there are registers to keep their sums in over the k terms), then 8 at a time,
/// then the rest as one block. Each output's sum is the same in any block width: its k
/// terms in order from zero.
fn few_terms<E: Real>(
    lhs: &[E],
    rows: &[E],
    (k, n): (usize, usize),
    dst: &mut [E],
    accumulate: bool,
) {
    let wide = n - n % 64;
    let narrow = n - n % 8;
    terms::<E, 64>(lhs, rows, (k, n), dst, (0, wide), accumulate);
    terms::<E, 8>(lhs, rows, (k, n), dst, (wide, narrow), accumulate);
    // The last n mod 8 columns as one block of that width, its sums in registers (a
    // linear decoder's 3 × 3 products are all of this kind). One column at a time, with
    // a bounds check an output, they took about 3.5 % of a `linear.pdg` epoch.
    let last = (narrow, n);
    match n - narrow {
        0 => {}
        1 => terms::<E, 1>(lhs, rows, (k, n), dst, last, accumulate),
        2 => terms::<E, 2>(lhs, rows, (k, n), dst, last, accumulate),
        3 => terms::<E, 3>(lhs, rows, (k, n), dst, last, accumulate),
        4 => terms::<E, 4>(lhs, rows, (k, n), dst, last, accumulate),
        5 => terms::<E, 5>(lhs, rows, (k, n), dst, last, accumulate),
        6 => terms::<E, 6>(lhs, rows, (k, n), dst, last, accumulate),
        _ => terms::<E, 7>(lhs, rows, (k, n), dst, last, accumulate),
    }
}

vectorised! {
    /// `few_terms` for the output columns from..to, W at a time (to − from a multiple
    /// of W).
    fn terms<E: Real, const W: usize>(
        lhs: &[E],
        rows: &[E],
        (k, n): (usize, usize),
        dst: &mut [E],
        (from, to): (usize, usize),
        accumulate: bool,
    ) {
        for (coefficients, out) in lhs.chunks_exact(k).zip(dst.chunks_exact_mut(n)) {
            for b in (from..to).step_by(W) {
                let mut sums = [E::zero(); W];
                for (i, &c) in coefficients.iter().enumerate() {
                    let w: &[E; W] = rows[i * n + b..][..W].try_into().expect("W");
                    for l in 0..W {
                        sums[l] = c.mul_add(w[l], sums[l]);
                    }
                }
                for (o, s) in out[b..b + W].iter_mut().zip(sums) {
                    *o = if accumulate { *o + s } else { s };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `len` test numbers in [−5, 5.5), a different sequence for each prime.
    fn numbers<E: Real>(len: usize, prime: usize) -> Vec<E> {
        (0..len)
            .map(|i| E::from(((i * prime) % 1013) as f64 / 97.0 - 5.0).unwrap())
            .collect()
    }

    /// lhs · rhs in f64, one term at a time.
    fn reference(
        (m, n, k): (usize, usize, usize),
        lhs: Strided<f64>,
        rhs: Strided<f64>,
    ) -> Vec<f64> {
        let at = |(b, rs, cs): Strided<f64>, i: usize, j: usize| b[i * rs + j * cs];
        (0..m * n)
            .map(|c| (0..k).map(|i| at(lhs, c / n, i) * at(rhs, i, c % n)).sum())
            .collect()
    }

    /// Each narrow shape, with lhs and rhs in every layout `narrow_product` takes (and
    /// rhs strided), with and without accumulating, in E against the f64 reference:
    /// within `tolerance` of the sum of the terms' sizes.
    fn narrow_products_match_in<E: Real>(tolerance: f64) {
        let few_terms = [
            (625, 3, 64),
            (37, 1, 5),
            (50, 8, 130),
            (20, 5, 7),
            (9, 2, 72),
            (625, 3, 3),
            (21, 4, 4),
            (19, 8, 11),
            (14, 2, 6),
        ];
        let few_outputs = [
            (625, 64, 3),
            (33, 70, 1),
            (40, 13, 8),
            (17, 9, 5),
            (100, 200, 6),
        ];
        for (m, k, n) in few_terms.into_iter().chain(few_outputs) {
            // Twice the room, for the strided layout.
            let (lhs, rhs, start) = (
                numbers::<f64>(2 * m * k, 7919),
                numbers::<f64>(2 * k * n, 104_729),
                numbers::<f64>(m * n, 31),
            );
            let converted =
                |v: &[f64]| -> Vec<E> { v.iter().map(|&v| E::from(v).unwrap()).collect() };
            let (lhs_e, rhs_e) = (converted(&lhs), converted(&rhs));
            let magnitudes = |v: &[f64]| -> Vec<f64> { v.iter().map(|v| v.abs()).collect() };
            let (lhs_size, rhs_size) = (magnitudes(&lhs), magnitudes(&rhs));
            let lhs_layouts = [(k, 1), (1, m)];
            let rhs_layouts = [(n, 1), (1, k), (2 * n, 2)];
            for (lhs_rs, lhs_cs) in lhs_layouts {
                for (rhs_rs, rhs_cs) in rhs_layouts {
                    for accumulate in [false, true] {
                        let mut dst = converted(&start);
                        let handled = narrow_product(
                            (m, n, k),
                            (&mut dst, n, 1),
                            accumulate,
                            (&lhs_e, lhs_rs, lhs_cs),
                            (&rhs_e, rhs_rs, rhs_cs),
                        );
                        let lhs_by_rows = (lhs_rs, lhs_cs) == (k, 1);
                        assert_eq!(handled, k <= FEW || lhs_by_rows, "{m}×{k}·{k}×{n}");
                        if !handled {
                            continue;
                        }
                        let lhs_f = (&lhs[..], lhs_rs, lhs_cs);
                        let rhs_f = (&rhs[..], rhs_rs, rhs_cs);
                        let want = reference((m, n, k), lhs_f, rhs_f);
                        let size = reference(
                            (m, n, k),
                            (&lhs_size, lhs_rs, lhs_cs),
                            (&rhs_size, rhs_rs, rhs_cs),
                        );
                        for (c, got) in dst.iter().enumerate() {
                            let want = want[c] + if accumulate { start[c] } else { 0.0 };
                            let error = (got.to_f64().unwrap() - want).abs();
                            assert!(
                                error <= tolerance * (size[c] + start[c].abs()),
                                "{m}×{k}·{k}×{n}, lhs ({lhs_rs}, {lhs_cs}), rhs ({rhs_rs}, {rhs_cs}), \
                                 accumulate {accumulate}: cell {c} {got} against {want}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn narrow_products_match_the_product_in_f64() {
        narrow_products_match_in::<f64>(1e-14);
        narrow_products_match_in::<f32>(1e-6);
    }

    /// The AVX2 kernel sums in `dots`' order: the same f32 bits, for every width of a
    /// group of columns (1–4, and 5–8 in two groups) and k with and without a remainder.
    #[test]
    fn the_avx2_dot_products_are_the_reference_to_the_bit() {
        for (rows, k) in [(1, 1), (5, 7), (33, 8), (17, 13), (40, 64), (9, 70)] {
            for n in 1..=FEW {
                let (lhs, columns, start) = (
                    numbers::<f32>(rows * k, 7919),
                    numbers::<f32>(n * k, 104_729),
                    numbers::<f32>(rows * n, 31),
                );
                for accumulate in [false, true] {
                    let (mut kernel, mut reference) = (start.clone(), start.clone());
                    dots_f32(&lhs, &columns, (k, n), &mut kernel, accumulate);
                    dots(&lhs, &columns, (k, n), &mut reference, accumulate);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&kernel),
                        bits(&reference),
                        "{rows}×{k}, {n} columns, accumulate {accumulate}"
                    );
                }
            }
        }
    }
}
