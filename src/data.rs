//! Data files: reading a CSV into the observed matrix, with one clear message per problem,
//! and the preprocessing (standardisation, whitening) `fit` applies and records.

use crate::matrix::Matrix;
use crate::spec::{Columns, ModelSpec, Preprocess};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A numeric table read from a CSV file with a header row.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub values: Matrix,
}

/// How the observed columns were transformed for training: each column standardised,
/// x' = (x − mean) / sd, then, with `preprocess whiten`, the row x' multiplied by the
/// whitening matrix. Recorded in every fit so that later data get the same transform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    pub columns: Vec<String>,
    pub means: Vec<f64>,
    pub sds: Vec<f64>,
    pub whitening: Option<Whitening>,
}

/// The symmetric whitening matrix C^(−1/2) of the standardised columns' correlation matrix
/// C, and its inverse C^(1/2), rows first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Whitening {
    pub matrix: Vec<Vec<f64>>,
    pub inverse: Vec<Vec<f64>>,
}

/// Correlation eigenvalues below this fraction of the largest make whitening meaningless:
/// the columns are linearly dependent up to rounding.
const DEPENDENT_COLUMNS: f64 = 1e-9;

/// Cells read as a missing value rather than as a number.
const MISSING: [&str; 6] = ["", "na", "nan", "null", "none", "?"];

/// `error: FILE:LINE: message`
fn at_line(file: &str, line: u64, message: impl std::fmt::Display) -> String {
    format!("error: {file}:{line}: {message}")
}

/// Chooses, from the header row, the columns to read as numbers.
pub type ColumnChoice<'a> = &'a dyn Fn(&[String]) -> Result<Vec<usize>, String>;

/// Reads a CSV with a header row. `wanted` chooses the columns to parse as numbers; the
/// others are only checked for shape. Every problem is one message naming file and line.
pub fn read_table(path: &Path, wanted: ColumnChoice) -> Result<Table, String> {
    let file = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| format!("error: cannot read data file `{file}`: {e}"))?;
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(format!(
            "error: {file}: the file is empty; expected a header row of column names and at least two rows of numbers"
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes.as_slice());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(&file, e))?
        .iter()
        .map(str::to_string)
        .collect();
    if header.iter().all(|h| h.parse::<f64>().is_ok()) {
        return Err(at_line(
            &file,
            1,
            format!(
                "expected a header row of column names, found numbers (`{}`)",
                header.join(",")
            ),
        ));
    }
    if let Some(i) = header.iter().position(|h| h.is_empty()) {
        return Err(at_line(
            &file,
            1,
            format!("column {} has no name in the header row", i + 1),
        ));
    }
    let chosen = wanted(&header).map_err(|m| at_line(&file, 1, m))?;

    let mut data = Vec::new();
    let mut rows = 0;
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(&file, e))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() == 1 && record.get(0) == Some("") {
            continue; // a blank line
        }
        if record.len() != header.len() {
            return Err(at_line(
                &file,
                line,
                format!(
                    "{} fields, expected {} as in the header row",
                    record.len(),
                    header.len()
                ),
            ));
        }
        for &c in &chosen {
            let cell = record.get(c).unwrap_or("");
            let name = &header[c];
            if MISSING.contains(&cell.to_ascii_lowercase().as_str()) {
                return Err(at_line(
                    &file,
                    line,
                    format!("column `{name}` has a missing value (`{cell}`); expected a number"),
                ));
            }
            match cell.parse::<f64>() {
                Ok(x) if x.is_finite() => data.push(x),
                _ => {
                    return Err(at_line(
                        &file,
                        line,
                        format!("column `{name}` has `{cell}`; expected a number"),
                    ))
                }
            }
        }
        rows += 1;
    }
    if rows < 2 {
        return Err(format!(
            "error: {file}: {rows} data row{}; at least two are needed",
            if rows == 1 { "" } else { "s" }
        ));
    }
    Ok(Table {
        columns: chosen.iter().map(|&c| header[c].clone()).collect(),
        values: Matrix::new(rows, chosen.len(), data),
    })
}

fn csv_error(file: &str, e: csv::Error) -> String {
    let line = e.position().map_or(0, |p| p.line());
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => at_line(file, line, "the file is not UTF-8 text"),
        _ => at_line(file, line, e),
    }
}

/// The columns of `header` that the model observes, in the model's order.
pub fn observed_columns(spec: &ModelSpec, header: &[String]) -> Result<Vec<usize>, String> {
    match &spec.observed.columns {
        Columns::First(m) => {
            if header.len() < *m {
                Err(format!(
                    "the file has {} column{}, but the model observes {m} (`observed {}[{m}]`)",
                    header.len(),
                    if header.len() == 1 { "" } else { "s" },
                    spec.observed.name
                ))
            } else {
                Ok((0..*m).collect())
            }
        }
        Columns::Named(names) => names
            .iter()
            .map(|n| {
                header.iter().position(|h| h == n).ok_or_else(|| {
                    format!(
                        "the model observes column `{n}`, but the header has no such column (it has {})",
                        header.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", ")
                    )
                })
            })
            .collect(),
    }
}

/// Reads the observed columns of a data file for `spec`.
pub fn read_observed(path: &Path, spec: &ModelSpec) -> Result<Table, String> {
    read_table(path, &|header| observed_columns(spec, header))
}

/// Reads every column of a numeric CSV (truth and source files).
pub fn read_all(path: &Path) -> Result<Table, String> {
    read_table(path, &|header| Ok((0..header.len()).collect()))
}

impl Preprocessing {
    /// Column means and (population) standard deviations, and with `Preprocess::Whiten`
    /// the whitening matrix. A constant column is an error; so, for whitening, are
    /// linearly dependent columns.
    pub fn fit(file: &str, table: &Table, how: Preprocess) -> Result<Preprocessing, String> {
        let x = &table.values;
        let mut means = Vec::new();
        let mut sds = Vec::new();
        for (c, (mean, sd)) in x.column_moments().into_iter().enumerate() {
            // NaN-safe: a deviation that is not clearly positive counts as constant.
            if sd.is_nan() || sd <= 1e-12 * mean.abs().max(1.0) {
                return Err(format!(
                    "error: {file}: column `{}` is constant (every row is {}); it carries no signal and cannot be standardised",
                    table.columns[c],
                    x.get(0, c)
                ));
            }
            means.push(mean);
            sds.push(sd);
        }
        let mut fitted = Preprocessing {
            columns: table.columns.clone(),
            means,
            sds,
            whitening: None,
        };
        if how == Preprocess::Whiten {
            fitted.whitening = Some(Whitening::fit(
                file,
                &table.columns,
                &fitted.standardise(x),
            )?);
        }
        Ok(fitted)
    }

    /// Data columns → what the model sees.
    pub fn apply(&self, x: &Matrix) -> Matrix {
        let y = self.standardise(x);
        match &self.whitening {
            Some(w) => times_transpose(&y, &w.matrix),
            None => y,
        }
    }

    /// What the model sees (or generates) → data columns.
    pub fn invert(&self, y: &Matrix) -> Matrix {
        let y = match &self.whitening {
            Some(w) => times_transpose(y, &w.inverse),
            None => y.clone(),
        };
        Matrix::from_fn(y.rows, y.cols, |r, c| {
            y.get(r, c) * self.sds[c] + self.means[c]
        })
    }

    fn standardise(&self, x: &Matrix) -> Matrix {
        Matrix::from_fn(x.rows, x.cols, |r, c| {
            (x.get(r, c) - self.means[c]) / self.sds[c]
        })
    }
}

impl Whitening {
    /// From standardised columns `y` (named `columns`, read from `file`).
    fn fit(file: &str, columns: &[String], y: &Matrix) -> Result<Whitening, String> {
        let m = y.cols;
        // Centred, T rows span at most T − 1 directions.
        if y.rows <= m {
            return Err(format!(
                "error: {file}: {} data rows; `preprocess whiten` of {m} columns needs at least {}",
                y.rows,
                m + 1
            ));
        }
        let rows = nalgebra::DMatrix::from_row_slice(y.rows, m, &y.data);
        let correlation = rows.tr_mul(&rows) / y.rows as f64;
        let eigen = nalgebra::SymmetricEigen::new(correlation);
        let largest = eigen.eigenvalues.max();
        let (smallest_at, smallest) = eigen.eigenvalues.argmin();
        if smallest <= DEPENDENT_COLUMNS * largest {
            // The columns that carry weight in the null direction are the dependent ones.
            let null = eigen.eigenvectors.column(smallest_at);
            let weight = null.amax();
            let involved: Vec<String> = (0..m)
                .filter(|&c| null[c].abs() > 0.1 * weight)
                .map(|c| format!("`{}`", columns[c]))
                .collect();
            return Err(format!(
                "error: {file}: columns {} are linearly dependent; `preprocess whiten` needs \
                 columns of which none is a combination of the others (drop one, or use \
                 `preprocess standardise`)",
                and_list(&involved)
            ));
        }
        let with_powers = |power: f64| {
            let scaled = eigen.eigenvalues.map(|l| l.powf(power));
            let product = &eigen.eigenvectors
                * nalgebra::DMatrix::from_diagonal(&scaled)
                * eigen.eigenvectors.transpose();
            (0..m)
                .map(|r| (0..m).map(|c| product[(r, c)]).collect())
                .collect()
        };
        Ok(Whitening {
            matrix: with_powers(-0.5),
            inverse: with_powers(0.5),
        })
    }
}

/// Each row of `y` multiplied by `rows`ᵀ: y · rowsᵀ.
fn times_transpose(y: &Matrix, rows: &[Vec<f64>]) -> Matrix {
    Matrix::from_fn(y.rows, rows.len(), |r, c| {
        y.row(r).iter().zip(&rows[c]).map(|(a, b)| a * b).sum()
    })
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// How many digits a number written to CSV needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Values computed in f32 (model outputs): the shortest text that reads back as that f32.
    Single,
    /// Values computed in f64 (simulated data).
    Double,
}

/// Writes a matrix as CSV with a header row. Numbers use Rust's shortest round-trip form,
/// so the same values always give the same bytes.
pub fn write_csv(
    path: &Path,
    header: &[String],
    x: &Matrix,
    precision: Precision,
) -> std::io::Result<()> {
    write_csv_to(std::fs::File::create(path)?, header, x, precision)
}

/// `write_csv` into any writer (standard output, say).
pub fn write_csv_to(
    out: impl std::io::Write,
    header: &[String],
    x: &Matrix,
    precision: Precision,
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header)?;
    for r in 0..x.rows {
        w.write_record(x.row(r).iter().map(|&v| match precision {
            Precision::Single => format!("{}", v as f32),
            Precision::Double => format!("{v}"),
        }))?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{simulate, Scenario};

    fn table(x: Matrix) -> Table {
        Table {
            columns: (0..x.cols).map(|c| format!("x{c}")).collect(),
            values: x,
        }
    }

    fn covariance(y: &Matrix) -> Vec<Vec<f64>> {
        let t = y.rows as f64;
        (0..y.cols)
            .map(|a| {
                (0..y.cols)
                    .map(|b| (0..y.rows).map(|r| y.get(r, a) * y.get(r, b)).sum::<f64>() / t)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn whitened_columns_are_uncorrelated_and_the_transform_inverts() {
        let x = simulate(Scenario::Linear, 500, 3)
            .data
            .map(|v| 5.0 * v + 2.0);
        let p = Preprocessing::fit("sim", &table(x.clone()), Preprocess::Whiten).unwrap();
        let y = p.apply(&x);
        for (a, row) in covariance(&y).iter().enumerate() {
            for (b, &c) in row.iter().enumerate() {
                let expected = if a == b { 1.0 } else { 0.0 };
                assert!((c - expected).abs() < 1e-10, "cov[{a}][{b}] = {c}");
            }
        }
        let w = &p.whitening.as_ref().unwrap().matrix;
        for (a, row) in w.iter().enumerate() {
            for (b, &v) in row.iter().enumerate() {
                assert!((v - w[b][a]).abs() < 1e-12, "ZCA is symmetric");
            }
        }
        let back = p.invert(&y);
        let worst = back
            .data
            .iter()
            .zip(&x.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-10, "round trip off by {worst}");
    }

    #[test]
    fn whitening_uncorrelated_columns_changes_nothing_but_the_scale() {
        // Columns that are already uncorrelated: ZCA whitening is then the identity.
        let x = Matrix::new(4, 2, vec![1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0]);
        let p = Preprocessing::fit("grid", &table(x.clone()), Preprocess::Whiten).unwrap();
        let s = Preprocessing::fit("grid", &table(x.clone()), Preprocess::Standardise).unwrap();
        let (a, b) = (p.apply(&x), s.apply(&x));
        assert!(a
            .data
            .iter()
            .zip(&b.data)
            .all(|(u, v)| (u - v).abs() < 1e-12));
        assert_eq!(s.invert(&b), x);
    }
}
