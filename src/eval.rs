//! Recovery quality: the mean correlation coefficient (MCC) between true and estimated
//! sources after the best one-to-one matching (Hungarian algorithm), as in the ICA
//! literature and `../shared/anchors/metrics.py`.

use crate::matrix::Matrix;
use crate::numeric::centred_unit;
use pathfinding::prelude::{kuhn_munkres, Matrix as Weights};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    /// Mean |Pearson correlation| over the true sources, each with its match (0 for a
    /// source left unmatched because fewer were estimated than there are).
    pub mcc: f64,
    /// The same with Spearman correlation, on its own matching.
    pub mcc_spearman: f64,
    /// For each true source i: the estimated source matched to it (Pearson matching);
    /// `None` when there were fewer estimates than true sources and i got none.
    pub matching: Vec<Option<usize>>,
    /// |corr| of each true source with its match.
    pub per_source: Vec<f64>,
    /// The full |Pearson| matrix, true sources × estimates.
    pub abs_corr: Vec<Vec<f64>>,
}

/// Pearson correlation, at any magnitude (each series is centred and scaled to at most 1
/// first); 0 when either series is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let (Some(a), Some(b)) = (centred_unit(a), centred_unit(b)) else {
        return 0.0;
    };
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(&b) {
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    sab / (saa * sbb).sqrt()
}

/// Ranks 1..n, ties sharing their mean rank.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = mean_rank;
        }
        i = j + 1;
    }
    r
}

pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

/// The matching of rows to columns that maximises the summed score; with more rows than
/// columns some rows get none. (A row left over scores 0: the columns are padded with
/// zero-score ones, which kuhn_munkres needs, rows ≤ columns.)
fn best_matching(score: &[Vec<f64>]) -> Vec<Option<usize>> {
    let rows = score.len();
    let cols = score.first().map_or(0, Vec::len);
    // kuhn_munkres needs an ordered integer weight; 1e9 keeps nine decimals of |corr|.
    let weights = Weights::from_fn(rows, cols.max(rows), |(r, c)| {
        score[r].get(c).map_or(0, |s| (s * 1e9).round() as i64)
    });
    let matching = kuhn_munkres(&weights).1;
    matching
        .into_iter()
        .map(|c| (c < cols).then_some(c))
        .collect()
}

/// Each row's score at its match, 0 where it has none.
fn matched_scores(score: &[Vec<f64>], matching: &[Option<usize>]) -> Vec<f64> {
    matching
        .iter()
        .enumerate()
        .map(|(i, j)| j.map_or(0.0, |j| score[i][j]))
        .collect()
}

fn abs_corr(truth: &Matrix, estimate: &Matrix, corr: fn(&[f64], &[f64]) -> f64) -> Vec<Vec<f64>> {
    let est: Vec<Vec<f64>> = (0..estimate.ncols())
        .map(|c| estimate.column(c).to_vec())
        .collect();
    (0..truth.ncols())
        .map(|i| {
            let t = truth.column(i).to_vec();
            est.iter().map(|e| corr(&t, e).abs()).collect()
        })
        .collect()
}

/// The Pearson part of [`recovery`], for checks during training: the matching, each true
/// source's |corr| with its match, and the whole |corr| matrix. Shapes as `recovery` needs.
pub fn matched_pearson(
    truth: &Matrix,
    estimate: &Matrix,
) -> (Vec<Option<usize>>, Vec<f64>, Vec<Vec<f64>>) {
    let pearson_abs = abs_corr(truth, estimate, pearson);
    let matching = best_matching(&pearson_abs);
    let per_source = matched_scores(&pearson_abs, &matching);
    (matching, per_source, pearson_abs)
}

/// MCC of `estimate` against `truth` (rows are samples, the same number). With fewer
/// estimated sources than true ones (FastICA on an underdetermined mixture finds at most
/// as many as there are observed columns), the true sources left unmatched count as
/// |corr| 0: the MCC is still the mean over every true source, so methods that estimate
/// different numbers of sources compare on the same scale.
pub fn recovery(truth: &Matrix, estimate: &Matrix) -> Result<Recovery, String> {
    if truth.nrows() != estimate.nrows() {
        return Err(format!(
            "the truth has {} rows but the estimate has {}",
            truth.nrows(),
            estimate.nrows()
        ));
    }
    let (matching, per_source, pearson_abs) = matched_pearson(truth, estimate);
    let spearman_abs = abs_corr(truth, estimate, spearman);
    let s_match = best_matching(&spearman_abs);
    let n = truth.ncols() as f64;
    Ok(Recovery {
        mcc: per_source.iter().sum::<f64>() / n,
        mcc_spearman: matched_scores(&spearman_abs, &s_match).iter().sum::<f64>() / n,
        matching,
        per_source,
        abs_corr: pearson_abs,
    })
}

/// The Amari distance of an unmixing W (n × m) from the inverse of a mixing A (m × n):
/// with P = W A, (1 / 2n(n − 1)) [Σᵢ (Σⱼ |pᵢⱼ| / maxₖ |pᵢₖ| − 1) + Σⱼ (Σᵢ |pᵢⱼ| / maxₖ |pₖⱼ| − 1)].
/// 0 when P is a scaled permutation (perfect separation), at most 1. Amari, Cichocki and
/// Yang (1996), normalised as in most ICA benchmarks.
pub fn amari_distance(unmixing: &Matrix, mixing: &Matrix) -> f64 {
    let p = unmixing.dot(mixing).mapv(f64::abs);
    let n = p.nrows();
    if n < 2 || p.ncols() != n {
        return 0.0;
    }
    let mut total = 0.0;
    for i in 0..n {
        let row = p.row(i);
        let max = row.iter().copied().fold(0.0, f64::max);
        total += row.iter().sum::<f64>() / max - 1.0;
    }
    for j in 0..n {
        let col = p.column(j).to_vec();
        let max = col.iter().copied().fold(0.0, f64::max);
        total += col.iter().sum::<f64>() / max - 1.0;
    }
    total / (2.0 * n as f64 * (n as f64 - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permuted_and_flipped_sources_have_mcc_one() {
        let truth = Matrix::from_shape_fn((50, 3), |(r, c)| {
            ((r * (c + 2)) % 7) as f64 + (r as f64 * 0.1 * c as f64).sin()
        });
        let est = Matrix::from_shape_fn((50, 3), |(r, c)| match c {
            0 => -2.0 * truth[[r, 2]],
            1 => truth[[r, 0]] + 3.0,
            _ => 0.5 * truth[[r, 1]],
        });
        let rec = recovery(&truth, &est).unwrap();
        assert!((rec.mcc - 1.0).abs() < 1e-12);
        assert_eq!(rec.matching, vec![Some(1), Some(2), Some(0)]);
    }

    #[test]
    fn fewer_estimates_than_sources_leave_the_rest_unmatched_at_zero() {
        let truth = Matrix::from_shape_fn((40, 3), |(r, c)| {
            ((r * (c + 3)) % 11) as f64 + (r as f64 * 0.3 * (c + 1) as f64).cos()
        });
        // Two estimates: the third true source and minus the first.
        let est = Matrix::from_shape_fn((40, 2), |(r, c)| match c {
            0 => truth[[r, 2]],
            _ => -truth[[r, 0]],
        });
        let rec = recovery(&truth, &est).unwrap();
        assert_eq!(rec.matching, vec![Some(1), None, Some(0)]);
        assert_eq!(rec.per_source[1], 0.0);
        assert!((rec.mcc - 2.0 / 3.0).abs() < 1e-12, "{}", rec.mcc);
        assert!((rec.mcc_spearman - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn correlation_holds_at_any_magnitude() {
        let a: Vec<f64> = (0..20).map(|i| f64::from(i).sin()).collect();
        let b: Vec<f64> = (0..20)
            .map(|i| f64::from(i).sin() + 0.3 * f64::from(i).cos())
            .collect();
        let r = pearson(&a, &b);
        for scale in [1e200, 1e-300] {
            let big: Vec<f64> = a.iter().map(|v| v * scale).collect();
            assert!((pearson(&big, &b) - r).abs() < 1e-12, "{scale}");
        }
    }

    #[test]
    fn spearman_is_rank_based() {
        let a: Vec<f64> = (0..20).map(f64::from).collect();
        let b: Vec<f64> = a.iter().map(|x| x.powi(3)).collect();
        assert!((spearman(&a, &b) - 1.0).abs() < 1e-12);
        assert!(pearson(&a, &b) < 0.99);
    }
}
