//! gemm 0.19 alone on the three products of a 64 × 64 dense layer over a chunk's 625 rows,
//! in the layouts `backend/fused/chain.rs` gives it and in others: whether keeping the
//! activations by columns would pay. Each variant runs 50 times a round, the variants
//! alternating over 40 rounds (this project's hosts drift within seconds); prints each
//! variant's median, quartiles and best, in µs a product.
//!
//!     cargo bench --bench gemm_layouts

use std::time::Instant;

/// dst (m × n) = lhs (m × k) · rhs (k × n), or dst += …; each matrix as (buffer, row
/// stride, column stride), as `fused::product` takes them.
fn product(
    (m, n, k): (usize, usize, usize),
    dst: (&mut [f32], usize, usize),
    accumulate: bool,
    lhs: (&[f32], usize, usize),
    rhs: (&[f32], usize, usize),
) {
    let extent = |(len, rs, cs): (usize, usize, usize), rows: usize, cols: usize| {
        assert!(
            len > (rows - 1) * rs + (cols - 1) * cs,
            "a buffer too short"
        );
    };
    extent((dst.0.len(), dst.1, dst.2), m, n);
    extent((lhs.0.len(), lhs.1, lhs.2), m, k);
    extent((rhs.0.len(), rhs.1, rhs.2), k, n);
    // SAFETY: each buffer holds every element its strides reach (asserted above), and dst
    // overlaps neither factor (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0.as_mut_ptr(),
            dst.2 as isize,
            dst.1 as isize,
            accumulate,
            lhs.0.as_ptr(),
            lhs.2 as isize,
            lhs.1 as isize,
            rhs.0.as_ptr(),
            rhs.2 as isize,
            rhs.1 as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

type Variant = (&'static str, Box<dyn FnMut()>);

fn main() {
    // A chunk's rows, a layer's width, and the rows padded to gemm's 16 lanes.
    let (rows, w, h) = (625usize, 64usize, 640usize);
    let numbers = |len: usize, period: usize| -> Vec<f32> {
        (0..len).map(|i| (i % period) as f32 * 0.1).collect()
    };
    let (a, g, weight) = (numbers(h * w, 7), numbers(h * w, 5), numbers(w * w, 3));
    let out = || vec![0f32; h * w];
    let mut variants: Vec<Variant> = Vec::new();
    {
        let (a, weight, mut out) = (a.clone(), weight.clone(), out());
        variants.push((
            "forward a·W, a by rows (as now)",
            Box::new(move || {
                product(
                    (rows, w, w),
                    (&mut out, w, 1),
                    false,
                    (&a, w, 1),
                    (&weight, w, 1),
                )
            }),
        ));
    }
    {
        let (a, weight, mut out) = (a.clone(), weight.clone(), out());
        variants.push((
            "forward a·W, a and the result by columns",
            Box::new(move || {
                product(
                    (h, w, w),
                    (&mut out, 1, h),
                    false,
                    (&a, 1, h),
                    (&weight, w, 1),
                )
            }),
        ));
    }
    {
        let (a, g, mut dw) = (a.clone(), g.clone(), vec![0f32; w * w]);
        variants.push((
            "weight gradient aᵀ·g, a and g by rows (as now)",
            Box::new(move || product((w, w, rows), (&mut dw, w, 1), true, (&a, 1, w), (&g, w, 1))),
        ));
    }
    {
        let (a, g, mut dw) = (a.clone(), g.clone(), vec![0f32; w * w]);
        variants.push((
            "weight gradient aᵀ·g, a by columns",
            Box::new(move || product((w, w, h), (&mut dw, w, 1), true, (&a, h, 1), (&g, w, 1))),
        ));
    }
    {
        let (a, mut by_columns) = (a.clone(), out());
        variants.push((
            "a (625 × 64) turned by columns, one at a time",
            Box::new(move || {
                let a = std::hint::black_box(&a);
                for r in 0..rows {
                    for c in 0..w {
                        by_columns[c * h + r] = a[r * w + c];
                    }
                }
                std::hint::black_box(&by_columns);
            }),
        ));
    }
    {
        let (g, weight, mut out) = (g.clone(), weight.clone(), out());
        variants.push((
            "input gradient g·Wᵀ, g by rows (as now)",
            Box::new(move || {
                product(
                    (rows, w, w),
                    (&mut out, w, 1),
                    false,
                    (&g, w, 1),
                    (&weight, 1, w),
                )
            }),
        ));
    }
    {
        let (g, weight, mut out) = (g, weight, out());
        variants.push((
            "input gradient g·Wᵀ, g and the result by columns",
            Box::new(move || {
                product(
                    (h, w, w),
                    (&mut out, 1, h),
                    false,
                    (&g, 1, h),
                    (&weight, 1, w),
                )
            }),
        ));
    }
    let (rounds, reps) = (40, 50);
    let mut times = vec![Vec::new(); variants.len()];
    for _ in 0..rounds {
        for ((_, run), times) in variants.iter_mut().zip(&mut times) {
            for _ in 0..5 {
                run();
            }
            let start = Instant::now();
            for _ in 0..reps {
                run();
            }
            times.push(start.elapsed().as_secs_f64() / reps as f64 * 1e6);
        }
    }
    for ((name, _), mut t) in variants.iter().zip(times) {
        t.sort_by(f64::total_cmp);
        let at = |q: usize| t[(t.len() - 1) * q / 4];
        println!(
            "{name:50} median {:6.1} µs  quartiles {:6.1} {:6.1}  best {:6.1}",
            at(2),
            at(1),
            at(3),
            t[0]
        );
    }
}
