//! Judging fits without the true sources, to choose among restarts (`train { choose }`):
//! how dependent a fit's sources still are, and how well fits agree with each other.
//!
//! Both look at a fixed, evenly spaced subset of the rows ([`probe_rows`]), so that their
//! cost does not grow with T (distance correlation is quadratic in the rows it sees) and
//! every restart is judged on the same rows.

use crate::matrix::Matrix;

/// At most this many rows are looked at: distance correlation then costs a few
/// milliseconds per pair of sources.
const PROBE_ROWS: usize = 1000;
/// … and at most this many numbers are held in the distance matrices of all sources
/// together (320 MB), so that many sources see fewer rows rather than exhaust memory.
const PROBE_VALUES: usize = 40_000_000;

/// The rows the criteria look at, of `rows` rows with `sources` sources: evenly spaced,
/// so the same for every restart.
pub fn probe_rows(rows: usize, sources: usize) -> Vec<usize> {
    let by_memory = ((PROBE_VALUES / sources.max(1)) as f64).sqrt() as usize;
    let count = rows.min(PROBE_ROWS).min(by_memory.max(2));
    (0..count).map(|i| i * rows / count).collect()
}

/// The mean distance correlation over all pairs of columns of `sources` (0 with fewer
/// than two): 0 exactly when the pairs are independent (Székely, Rizzo & Bakirov 2007,
/// "Measuring and testing dependence by correlation of distances"), unlike Pearson's,
/// which is 0 for any uncorrelated pair.
pub fn dependence(sources: &Matrix) -> f64 {
    let n = sources.ncols();
    if n < 2 {
        return 0.0;
    }
    let centred: Vec<(Vec<f64>, f64)> = (0..n)
        .map(|j| {
            let d = double_centred_distances(&sources.column(j).to_vec());
            let var = mean_product(&d, &d);
            (d, var)
        })
        .collect();
    let mut sum = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            let (a, va) = &centred[i];
            let (b, vb) = &centred[j];
            let denominator = (va * vb).sqrt();
            // A constant source is independent of everything.
            if denominator > 0.0 {
                sum += (mean_product(a, b).max(0.0) / denominator).sqrt();
            }
        }
    }
    sum / (n * (n - 1) / 2) as f64
}

/// The N × N matrix of |x_i − x_j| with its row and column means subtracted and its grand
/// mean added, row-major.
fn double_centred_distances(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut d: Vec<f64> = x
        .iter()
        .flat_map(|a| x.iter().map(move |b| (a - b).abs()))
        .collect();
    let row_means: Vec<f64> = d
        .chunks(n)
        .map(|r| r.iter().sum::<f64>() / n as f64)
        .collect();
    let grand = row_means.iter().sum::<f64>() / n as f64;
    // The matrix is symmetric: column means are the row means.
    for (i, row) in d.chunks_mut(n).enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v += grand - row_means[i] - row_means[j];
        }
    }
    d
}

fn mean_product(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / a.len() as f64
}

/// For each fit, the mean MCC of its sources against every other fit's (all on the same
/// rows): how much it agrees with the rest. With one fit, 1.
pub fn agreement(fits: &[Matrix]) -> Vec<f64> {
    let r = fits.len();
    if r < 2 {
        return vec![1.0; r];
    }
    let mut mcc = vec![vec![0.0; r]; r];
    for i in 0..r {
        for j in i + 1..r {
            let m = crate::eval::recovery(&fits[i], &fits[j]).map_or(0.0, |rec| rec.mcc);
            mcc[i][j] = m;
            mcc[j][i] = m;
        }
    }
    mcc.iter()
        .map(|row| row.iter().sum::<f64>() / (r - 1) as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn uniform(rows: usize, cols: usize, seed: u64) -> Matrix {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        Matrix::from_shape_fn((rows, cols), |_| rng.gen_range(-1.0..1.0))
    }

    #[test]
    fn dependence_is_near_zero_for_independent_and_high_for_dependent_sources() {
        let s = uniform(800, 2, 1);
        let independent = dependence(&s);
        assert!(independent < 0.1, "{independent}");
        // Uncorrelated but dependent: Pearson says 0, distance correlation does not.
        let dependent =
            Matrix::from_shape_fn(
                (800, 2),
                |(r, c)| if c == 0 { s[[r, 0]] } else { s[[r, 0]].powi(2) },
            );
        let d = dependence(&dependent);
        assert!(
            crate::eval::pearson(&dependent.column(0).to_vec(), &dependent.column(1).to_vec())
                .abs()
                < 0.1
        );
        assert!(d > 0.4, "{d}");
        // A linear mixture is more dependent than its sources.
        let mixed = Matrix::from_shape_fn((800, 2), |(r, c)| {
            s[[r, 0]] + if c == 0 { 0.5 } else { -0.5 } * s[[r, 1]]
        });
        assert!(dependence(&mixed) > independent + 0.1);
    }

    #[test]
    fn agreement_ranks_the_odd_fit_last() {
        let s = uniform(500, 3, 2);
        let noisy = |seed| s.clone() + uniform(500, 3, seed) * 0.1;
        let odd = uniform(500, 3, 9);
        let a = agreement(&[noisy(3), noisy(4), odd, noisy(5)]);
        let lowest = (0..4).min_by(|&i, &j| a[i].total_cmp(&a[j])).unwrap();
        assert_eq!(lowest, 2, "{a:?}");
    }

    #[test]
    fn probe_rows_are_spread_and_bounded() {
        assert_eq!(probe_rows(10, 3), (0..10).collect::<Vec<_>>());
        let rows = probe_rows(1_000_000, 3);
        assert_eq!(rows.len(), PROBE_ROWS);
        assert_eq!((rows[0], rows[1]), (0, 1000));
        assert!(probe_rows(1_000_000, 1000).len() < PROBE_ROWS);
    }
}
