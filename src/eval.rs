//! Recovery quality: the mean correlation coefficient (MCC) between true and estimated
//! sources after the best one-to-one matching (Hungarian algorithm), as in the ICA
//! literature and `../shared/anchors/metrics.py`.

use crate::matrix::Matrix;
use crate::numeric::centred_unit;
use pathfinding::prelude::{kuhn_munkres, Matrix as Weights};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    /// Mean |Pearson correlation| over matched pairs.
    pub mcc: f64,
    /// Mean |Spearman correlation| over pairs matched on Spearman correlation.
    pub mcc_spearman: f64,
    /// For each true source i: the estimated source matched to it (Pearson matching).
    pub matching: Vec<usize>,
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

/// The matching of rows to columns that maximises the summed score (rows ≤ columns).
fn best_matching(score: &[Vec<f64>]) -> Vec<usize> {
    let rows = score.len();
    let cols = score.first().map_or(0, Vec::len);
    // kuhn_munkres needs an ordered integer weight; 1e9 keeps nine decimals of |corr|.
    let weights = Weights::from_fn(rows, cols, |(r, c)| (score[r][c] * 1e9).round() as i64);
    kuhn_munkres(&weights).1
}

fn abs_corr(truth: &Matrix, estimate: &Matrix, corr: fn(&[f64], &[f64]) -> f64) -> Vec<Vec<f64>> {
    let est: Vec<Vec<f64>> = (0..estimate.cols).map(|c| estimate.column(c)).collect();
    (0..truth.cols)
        .map(|i| {
            let t = truth.column(i);
            est.iter().map(|e| corr(&t, e).abs()).collect()
        })
        .collect()
}

/// The Pearson part of [`recovery`], for checks during training: the matching, each true
/// source's |corr| with its match, and the whole |corr| matrix. Shapes as `recovery` needs.
pub fn matched_pearson(truth: &Matrix, estimate: &Matrix) -> (Vec<usize>, Vec<f64>, Vec<Vec<f64>>) {
    let pearson_abs = abs_corr(truth, estimate, pearson);
    let matching = best_matching(&pearson_abs);
    let per_source = matching
        .iter()
        .enumerate()
        .map(|(i, &j)| pearson_abs[i][j])
        .collect();
    (matching, per_source, pearson_abs)
}

/// MCC of `estimate` against `truth` (rows are samples). Needs at least as many estimated
/// sources as true ones, and the same number of rows.
pub fn recovery(truth: &Matrix, estimate: &Matrix) -> Result<Recovery, String> {
    if truth.rows != estimate.rows {
        return Err(format!(
            "the truth has {} rows but the estimate has {}",
            truth.rows, estimate.rows
        ));
    }
    if estimate.cols < truth.cols {
        return Err(format!(
            "{} true sources but only {} estimated ones",
            truth.cols, estimate.cols
        ));
    }
    let (matching, per_source, pearson_abs) = matched_pearson(truth, estimate);
    let spearman_abs = abs_corr(truth, estimate, spearman);
    let s_match = best_matching(&spearman_abs);
    let n = truth.cols as f64;
    Ok(Recovery {
        mcc: per_source.iter().sum::<f64>() / n,
        mcc_spearman: s_match
            .iter()
            .enumerate()
            .map(|(i, &j)| spearman_abs[i][j])
            .sum::<f64>()
            / n,
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
    let p = unmixing.matmul(mixing).map(f64::abs);
    let n = p.rows;
    if n < 2 || p.cols != n {
        return 0.0;
    }
    let mut total = 0.0;
    for i in 0..n {
        let row = p.row(i);
        let max = row.iter().copied().fold(0.0, f64::max);
        total += row.iter().sum::<f64>() / max - 1.0;
    }
    for j in 0..n {
        let col = p.column(j);
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
        let truth = Matrix::from_fn(50, 3, |r, c| {
            ((r * (c + 2)) % 7) as f64 + (r as f64 * 0.1 * c as f64).sin()
        });
        let est = Matrix::from_fn(50, 3, |r, c| match c {
            0 => -2.0 * truth.get(r, 2),
            1 => truth.get(r, 0) + 3.0,
            _ => 0.5 * truth.get(r, 1),
        });
        let rec = recovery(&truth, &est).unwrap();
        assert!((rec.mcc - 1.0).abs() < 1e-12);
        assert_eq!(rec.matching, vec![1, 2, 0]);
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
