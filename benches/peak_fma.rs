//! The measured peak of one core's f32 fused multiply-add throughput, the ceiling an
//! epoch's floating-point work is compared with in the README: independent chains of FMA
//! instructions on registers, enough of them to hide the latency, on the widest vectors
//! the CPU has (AVX-512 and AVX2, each measured where the CPU has it).
//!
//!     cargo bench --bench peak_fma
//!
//! Prints GFLOP/s (an FMA is two floating-point operations) for each path, the best of
//! five runs of about 0.2 s each.

use std::time::Instant;

/// FMA chains in flight: more than latency × throughput (4 × 2 on current x86 cores), so
/// that no chain waits for its own last result.
const CHAINS: usize = 12;
const ROUNDS: u64 = 20_000_000;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{CHAINS, ROUNDS};
    use std::arch::x86_64::*;

    /// The floating-point operations done: ROUNDS × CHAINS FMAs of 16 lanes.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512() -> (f64, f32) {
        let mut acc = [_mm512_set1_ps(1.0); CHAINS];
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        for _ in 0..ROUNDS {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        let sum = acc.iter().map(|&x| _mm512_reduce_add_ps(x)).sum();
        ((ROUNDS * CHAINS as u64 * 16 * 2) as f64, sum)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2() -> (f64, f32) {
        let mut acc = [_mm256_set1_ps(1.0); CHAINS];
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        for _ in 0..ROUNDS {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut lanes = [0f32; 8];
        let mut sum = 0.0;
        for x in acc {
            _mm256_storeu_ps(lanes.as_mut_ptr(), x);
            sum += lanes.iter().sum::<f32>();
        }
        ((ROUNDS * CHAINS as u64 * 8 * 2) as f64, sum)
    }
}

/// The best GFLOP/s of five runs of `kernel`.
fn best_of_five(kernel: impl Fn() -> (f64, f32)) -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            let (flops, sum) = kernel();
            let seconds = start.elapsed().as_secs_f64();
            // The sum is printed nowhere but must be computed: keeps the loop alive.
            std::hint::black_box(sum);
            flops / seconds / 1e9
        })
        .fold(0.0, f64::max)
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            let g = best_of_five(|| unsafe { x86::avx512() });
            println!("f32 FMA, one core, AVX-512: {g:.1} GFLOP/s");
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            let g = best_of_five(|| unsafe { x86::avx2() });
            println!("f32 FMA, one core, AVX2: {g:.1} GFLOP/s");
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    println!("peak_fma measures x86-64 vector units only");
}
