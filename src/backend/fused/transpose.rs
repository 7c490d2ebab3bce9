//! A matrix transposed into another buffer: how a tall, narrow product gets its left
//! factor in the layout gemm reads without packing (and how the mixture op turns z's
//! columns side by side and its results back).
//!
//! Why: a product with 3 output columns over T rows (an encoder's projection to the
//! means, the gradient a decoder hands back to z) is computed by columns, so that gemm
//! puts the T rows on its vector lanes (`product`). gemm then wants the left factor by
//! columns too, and, given it by rows (a hidden layer's activations, T × 64), packs it
//! one element at a time: 8–9 % of a `nonlinear.pdg` epoch (T = 5000, one thread,
//! AVX-512, `perf record`). Transposed here 8 × 8 at a time in AVX registers, its rows
//! padded to a multiple of gemm's 16 lanes (else gemm packs it anyway), the transpose
//! and what gemm still packs take 6.6 %. Transposing moves numbers and computes none, and
//! gemm sums over k in the same order whether or not it packs, so the product is the
//! same to the bit; not so for one column or m·n ≤ 256, where gemm takes other kernels
//! for a factor by rows, and those keep it by rows
//! (`a_narrow_product_gives_the_bits_it_gave_before_its_factor_was_transposed`).

/// dst ← srcᵀ for src (rows × cols, row-major): dst's row c, at c·stride, holds src's
/// column c, then zeros up to the next row (stride ≥ rows).
pub(crate) fn transpose_f32(src: &[f32], (rows, cols): (usize, usize), dst: (&mut [f32], usize)) {
    let (dst, stride) = dst;
    assert_fits(src.len(), (rows, cols), (dst.len(), stride));
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX (just checked), and the buffers' sizes are asserted.
        unsafe { avx::transpose(src, (rows, cols), (dst, stride)) };
        return;
    }
    transpose_from(src, (rows, cols), (dst, stride), (0, 0));
}

/// `transpose_f32` one element at a time for what the 8 × 8 blocks left: the rows from
/// `first.0` on, and above them the columns from `first.1` on (everything from (0, 0));
/// then the padding's zeros.
pub(crate) fn transpose_from<E: Copy + num_traits::Zero>(
    src: &[E],
    (rows, cols): (usize, usize),
    (dst, stride): (&mut [E], usize),
    first: (usize, usize),
) {
    assert_fits(src.len(), (rows, cols), (dst.len(), stride));
    if first.0 == 0 || first.1 == 0 {
        // The whole matrix: a narrow one, which has no 8 × 8 block (the mixture op's z,
        // rows × 3, in, and its results, 3 × rows, back). Along dst's rows, each written
        // in order; for a src of a few rows, with those rows fixed at compile time. A
        // (625 × 3) and a (3 × 625) transpose took about 0.3 and 0.5 ns an element this
        // way, 0.9–1.5 element by element (the AMD EPYC of `docs/speed-ae56d61/`).
        let dst = &mut dst[..cols * stride];
        match rows {
            1 => few_rows::<E, 1>(src, cols, (dst, stride)),
            2 => few_rows::<E, 2>(src, cols, (dst, stride)),
            3 => few_rows::<E, 3>(src, cols, (dst, stride)),
            4 => few_rows::<E, 4>(src, cols, (dst, stride)),
            _ => {
                let src_rows = src[..rows * cols].chunks_exact(cols.max(1));
                for (c, out) in dst.chunks_exact_mut(stride.max(1)).enumerate() {
                    for (d, row) in out.iter_mut().zip(src_rows.clone()) {
                        *d = row[c];
                    }
                }
            }
        }
    } else {
        for r in 0..rows {
            let from_col = if r < first.0 { first.1 } else { 0 };
            for c in from_col..cols {
                dst[c * stride + r] = src[r * cols + c];
            }
        }
    }
    for c in 0..cols {
        dst[c * stride + rows..(c + 1) * stride].fill(E::zero());
    }
}

/// The transpose of src (R × cols) into dst's rows (`stride` ≥ R apart): R elements a row.
fn few_rows<E: Copy, const R: usize>(src: &[E], cols: usize, (dst, stride): (&mut [E], usize)) {
    let rows: [&[E]; R] = std::array::from_fn(|r| &src[r * cols..(r + 1) * cols]);
    for (c, out) in dst.chunks_exact_mut(stride).enumerate() {
        for (d, row) in out[..R].iter_mut().zip(rows) {
            *d = row[c];
        }
    }
}

/// src holds rows × cols elements, and dst cols rows of `stride` ≥ rows.
fn assert_fits(src: usize, (rows, cols): (usize, usize), (dst, stride): (usize, usize)) {
    assert!(src >= rows * cols, "the matrix's buffer");
    assert!(
        stride >= rows && dst >= cols * stride,
        "the transpose's buffer"
    );
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    /// `transpose_f32` by 8 × 8 blocks, the rest one element at a time. The blocks go
    /// down src two columns of blocks at a time (16 columns, one 64-byte line of each
    /// src row read whole): with one column of blocks at a time, or going along src's rows,
    /// a (625 × 64) transpose took 10–30 % longer (0.40 ns an element against 0.44–0.53
    /// on this project's Xeon).
    ///
    /// # Safety
    /// The CPU has AVX, src holds rows × cols elements, and dst cols rows of `stride`.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn transpose(
        src: &[f32],
        (rows, cols): (usize, usize),
        (dst, stride): (&mut [f32], usize),
    ) {
        const BAND: usize = 16;
        let (whole_rows, whole_cols) = (rows / 8 * 8, cols / 8 * 8);
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        for band in (0..whole_cols).step_by(BAND) {
            for r in (0..whole_rows).step_by(8) {
                for c in (band..whole_cols.min(band + BAND)).step_by(8) {
                    // SAFETY: rows r..r + 8 and columns c..c + 8 lie inside src, and
                    // their transpose inside dst.
                    unsafe { block(s.add(r * cols + c), cols, d.add(c * stride + r), stride) };
                }
            }
        }
        super::transpose_from(src, (rows, cols), (dst, stride), (whole_rows, whole_cols));
    }

    /// The 8 × 8 block at `s` (rows `s_stride` apart) transposed to `d` (rows `d_stride`
    /// apart): pairs of rows interleaved, then pairs of pairs, then the 128-bit halves
    /// exchanged.
    ///
    /// # Safety
    /// The CPU has AVX; 8 rows of 8 elements can be read at `s` and written at `d`.
    #[target_feature(enable = "avx")]
    unsafe fn block(s: *const f32, s_stride: usize, d: *mut f32, d_stride: usize) {
        // SAFETY: the caller vouches for the 8 rows at s.
        let row = |i: usize| unsafe { _mm256_loadu_ps(s.add(i * s_stride)) };
        let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
        let (r4, r5, r6, r7) = (row(4), row(5), row(6), row(7));
        let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
        let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
        let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
        let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
        let (u0, u1) = (
            _mm256_shuffle_ps::<0x44>(t0, t2),
            _mm256_shuffle_ps::<0xEE>(t0, t2),
        );
        let (u2, u3) = (
            _mm256_shuffle_ps::<0x44>(t1, t3),
            _mm256_shuffle_ps::<0xEE>(t1, t3),
        );
        let (u4, u5) = (
            _mm256_shuffle_ps::<0x44>(t4, t6),
            _mm256_shuffle_ps::<0xEE>(t4, t6),
        );
        let (u6, u7) = (
            _mm256_shuffle_ps::<0x44>(t5, t7),
            _mm256_shuffle_ps::<0xEE>(t5, t7),
        );
        let out = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        for (i, v) in out.into_iter().enumerate() {
            // SAFETY: the caller vouches for the 8 rows at d.
            unsafe { _mm256_storeu_ps(d.add(i * d_stride), v) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_f32_matches_the_definition_on_every_shape_near_the_blocks() {
        for rows in [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 16, 23, 64, 65] {
            for cols in [0, 1, 2, 3, 4, 5, 8, 13, 16, 64, 67] {
                for stride in [rows, rows.next_multiple_of(16), rows + 3] {
                    let src: Vec<f32> = (0..rows * cols).map(|i| i as f32 + 0.5).collect();
                    let mut dst = vec![f32::NAN; cols * stride];
                    transpose_f32(&src, (rows, cols), (&mut dst, stride));
                    for c in 0..cols {
                        for r in 0..stride {
                            let want = if r < rows { src[r * cols + c] } else { 0.0 };
                            assert_eq!(dst[c * stride + r], want, "{rows}×{cols}, {stride}");
                        }
                    }
                }
            }
        }
    }
}
