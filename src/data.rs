//! Data files: reading a CSV into the observed matrix, with one clear message per problem,
//! and the standardisation `fit` applies and records.

use crate::matrix::Matrix;
use crate::spec::{Columns, ModelSpec};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A numeric table read from a CSV file with a header row.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub values: Matrix,
}

/// How each observed column was standardised: x' = (x − mean) / sd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardisation {
    pub columns: Vec<String>,
    pub means: Vec<f64>,
    pub sds: Vec<f64>,
}

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

impl Standardisation {
    /// Column means and (population) standard deviations; a constant column is an error.
    pub fn fit(file: &str, table: &Table) -> Result<Standardisation, String> {
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
        Ok(Standardisation {
            columns: table.columns.clone(),
            means,
            sds,
        })
    }

    pub fn apply(&self, x: &Matrix) -> Matrix {
        Matrix::from_fn(x.rows, x.cols, |r, c| {
            (x.get(r, c) - self.means[c]) / self.sds[c]
        })
    }

    pub fn invert(&self, x: &Matrix) -> Matrix {
        Matrix::from_fn(x.rows, x.cols, |r, c| {
            x.get(r, c) * self.sds[c] + self.means[c]
        })
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
