//! Data files: reading a CSV into the observed matrix, with one clear message per problem,
//! and the preprocessing (standardisation, whitening) `fit` applies and records.

use crate::matrix::Matrix;
use crate::spec::{Columns, ModelSpec, Preprocess};
use serde::{Deserialize, Serialize};

/// A numeric table read from a CSV file with a header row.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub values: Matrix,
}

impl Table {
    /// A table of numbers already in memory (an array handed over by Python), named `name`
    /// in messages, checked as a file's are when read: at least `min_rows` rows (a fit
    /// needs two), every value finite, columns named once each, as many names as columns.
    pub fn from_values(
        name: &str,
        columns: Vec<String>,
        values: Matrix,
        min_rows: usize,
    ) -> Result<Table, DataError> {
        let file = name.to_string();
        if columns.len() != values.ncols() {
            return Err(DataError::ColumnNames {
                file,
                names: columns.len(),
                columns: values.ncols(),
            });
        }
        for (i, column) in columns.iter().enumerate() {
            if columns[..i].contains(column) {
                let column = column.clone();
                return Err(DataError::RepeatedColumn { file, column });
            }
        }
        if values.nrows() < min_rows.max(1) {
            let rows = values.nrows();
            return Err(DataError::TooFewRows { file, rows });
        }
        if let Some(((row, c), &value)) = values.indexed_iter().find(|(_, v)| !v.is_finite()) {
            let column = columns[c].clone();
            return Err(DataError::NotFinite {
                file,
                row,
                column,
                value,
            });
        }
        Ok(Table { columns, values })
    }
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

/// Everything that can be wrong with a data file, each naming the file and, where there is
/// one, the line and the column.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read data file `{file}`: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: the file is empty; expected a header row of column names and at least two rows of numbers")]
    Empty { file: String },
    #[error("{file}:1: expected a header row of column names, found numbers (`{found}`)")]
    HeaderOfNumbers { file: String, found: String },
    #[error("{file}:1: column {index} has no name in the header row")]
    UnnamedColumn { file: String, index: usize },
    #[error("{file}:1: the file has {found} column{}, but the model observes {expected} (`observed {name}[{expected}]`)", plural(*.found))]
    TooFewColumns {
        file: String,
        found: usize,
        expected: usize,
        name: String,
    },
    #[error("{file}:1: the model observes column `{column}`, but the header has no such column (it has {})", quoted_list(.header))]
    NoSuchColumn {
        file: String,
        column: String,
        header: Vec<String>,
    },
    #[error("{file}:1: the header names column `{column}` twice; the model observes it by name, so which one is meant is unclear")]
    AmbiguousColumn { file: String, column: String },
    #[error("{file}:1: the header names column `{column}` twice; columns are found again by their names (by `encode`, `eval`), so each must have its own")]
    RepeatedColumn { file: String, column: String },
    #[error("{file}: column `{column}` holds {value:e}; FastICA works on numbers up to 1e150 in size (it squares them): rescale the column")]
    TooLargeForFastIca {
        file: String,
        column: String,
        value: f64,
    },
    #[error("{file}: the file is larger than the {} this process may use", crate::resources::human(*.limit))]
    TooLargeToRead { file: String, limit: u128 },
    #[error("{file}:{line}: {found} fields, expected {expected} as in the header row")]
    RaggedRow {
        file: String,
        line: u64,
        found: usize,
        expected: usize,
    },
    #[error("{file}:{line}: column `{column}` has a missing value (`{cell}`); expected a number")]
    MissingValue {
        file: String,
        line: u64,
        column: String,
        cell: String,
    },
    #[error("{file}:{line}: column `{column}` has `{cell}`; expected a number")]
    NotANumber {
        file: String,
        line: u64,
        column: String,
        cell: String,
    },
    #[error("{file}:{line}: the file is not UTF-8 text")]
    NotUtf8 { file: String, line: u64 },
    #[error("{file}:{line}: {message}")]
    Csv {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}: {rows} data row{}; at least two are needed", plural(*.rows))]
    TooFewRows { file: String, rows: usize },
    #[error("{file}: row {row} (counting from 0), column `{column}` holds {value}; expected a finite number")]
    NotFinite {
        file: String,
        row: usize,
        column: String,
        value: f64,
    },
    #[error("{file}: {names} column names for {columns} columns")]
    ColumnNames {
        file: String,
        names: usize,
        columns: usize,
    },
    #[error("{file}: column `{column}` is constant (every row is {}); it carries no signal and cannot be standardised", short_number(*.value))]
    ConstantColumn {
        file: String,
        column: String,
        value: f64,
    },
    #[error("{file}: {rows} data rows; {by} of {columns} columns needs at least {}", .columns + 1)]
    TooFewRowsToWhiten {
        /// What whitens: `preprocess whiten`, or FastICA.
        by: &'static str,
        file: String,
        rows: usize,
        columns: usize,
    },
    #[error("{file}: columns {} are linearly dependent; {by} needs columns of which none is a combination of the others ({fix})", and_list(.columns))]
    DependentColumns {
        by: &'static str,
        fix: &'static str,
        file: String,
        columns: Vec<String>,
    },
}

/// A number as written, or in exponent form when that is much shorter (1e-300).
fn short_number(x: f64) -> String {
    let plain = format!("{x}");
    if plain.len() > 16 {
        format!("{x:e}")
    } else {
        plain
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Each name in backticks.
fn quoted(names: &[String]) -> Vec<String> {
    names.iter().map(|h| format!("`{h}`")).collect()
}

/// `` `a`, `b`, `c` ``
fn quoted_list(names: &[String]) -> String {
    quoted(names).join(", ")
}

/// Which columns of a data file to read as numbers; the others are only checked for shape.
#[derive(Debug, Clone, Copy)]
pub enum Wanted<'a> {
    /// Every column (truth and source files).
    All,
    /// The columns a model observes, in the model's order.
    Observed(&'a ModelSpec),
    /// These columns by header name, in this order (the columns a fit was trained on).
    Named(&'a [String]),
}

/// The columns of a table already read (with `Wanted::All`) that `spec` observes, in the
/// model's order: what `parse_table` with `Wanted::Observed` would have given.
pub fn select_observed(file: &str, table: &Table, spec: &ModelSpec) -> Result<Table, DataError> {
    let chosen = observed_columns(file, spec, &table.columns)?;
    Ok(Table {
        columns: chosen.iter().map(|&c| table.columns[c].clone()).collect(),
        values: crate::matrix::select(&table.values, ndarray::Axis(1), &chosen),
    })
}

/// The columns of a table already read that are named `names`, in that order (the
/// columns a fit was trained on, for new data).
pub fn select_named(file: &str, table: &Table, names: &[String]) -> Result<Table, DataError> {
    let chosen = named_columns(file, names, &table.columns)?;
    Ok(Table {
        columns: chosen.iter().map(|&c| table.columns[c].clone()).collect(),
        values: crate::matrix::select(&table.values, ndarray::Axis(1), &chosen),
    })
}

/// Parses CSV text with a header row, named `file` in messages. Every problem is one
/// error naming the file and line.
pub fn parse_table(file: &str, bytes: &[u8], wanted: Wanted) -> Result<Table, DataError> {
    let file = file.to_string();
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(DataError::Empty { file });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(&file, bytes, e))?
        .iter()
        .map(str::to_string)
        .collect();
    if header.iter().all(|h| h.parse::<f64>().is_ok()) {
        let found = header.join(",");
        return Err(DataError::HeaderOfNumbers { file, found });
    }
    if let Some(i) = header.iter().position(|h| h.is_empty()) {
        return Err(DataError::UnnamedColumn { file, index: i + 1 });
    }
    let chosen: Vec<usize> = match wanted {
        Wanted::All => (0..header.len()).collect(),
        Wanted::Observed(spec) => observed_columns(&file, spec, &header)?,
        Wanted::Named(names) => named_columns(&file, names, &header)?,
    };
    // Columns are found again by name (`encode` a fit's, `eval` a truth's): a name used
    // twice among those read would make that ambiguous.
    for (i, &c) in chosen.iter().enumerate() {
        if chosen[..i].iter().any(|&d| header[d] == header[c]) {
            let column = header[c].clone();
            return Err(DataError::RepeatedColumn { file, column });
        }
    }

    let mut data = Vec::new();
    // In a one-column file an empty cell is a blank line, which the CSV reader skips: a
    // blank line with data after it is a missing value, not a row to drop.
    if header.len() == 1 {
        if let Some(line) = blank_line_before_data(bytes) {
            let column = header[0].clone();
            let cell = String::new();
            return Err(DataError::MissingValue {
                file,
                line,
                column,
                cell,
            });
        }
    }
    let mut rows = 0;
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(&file, bytes, e))?;
        if record.len() == 1 && record.get(0) == Some("") {
            continue; // a blank line
        }
        let line = || line_of(bytes, record.position());
        if record.len() != header.len() {
            return Err(DataError::RaggedRow {
                file,
                line: line(),
                found: record.len(),
                expected: header.len(),
            });
        }
        for &c in &chosen {
            let cell = record.get(c).unwrap_or("");
            match cell.parse::<f64>() {
                Ok(x) if x.is_finite() => data.push(x),
                // Only a cell that is not a finite number is looked at again (and its
                // text copied): the common case allocates nothing.
                _ => {
                    let (column, cell) = (header[c].clone(), cell.to_string());
                    return Err(if MISSING.contains(&cell.to_ascii_lowercase().as_str()) {
                        DataError::MissingValue {
                            file,
                            line: line(),
                            column,
                            cell,
                        }
                    } else {
                        DataError::NotANumber {
                            file,
                            line: line(),
                            column,
                            cell,
                        }
                    });
                }
            }
        }
        rows += 1;
    }
    if rows < 2 {
        return Err(DataError::TooFewRows { file, rows });
    }
    Ok(Table {
        columns: chosen.iter().map(|&c| header[c].clone()).collect(),
        values: crate::matrix::from_row_major(rows, chosen.len(), data),
    })
}

fn csv_error(file: &str, bytes: &[u8], e: csv::Error) -> DataError {
    let file = file.to_string();
    let line = line_of(bytes, e.position());
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => DataError::NotUtf8 { file, line },
        _ => DataError::Csv {
            file,
            line,
            message: e.to_string(),
        },
    }
}

/// The 1-based line of the record at `position`. The CSV reader's own line count is off
/// after blank lines and for CRLF line ends, and its byte offset is where the previous
/// line's end began: the record starts at the first byte after it that is not blank.
/// Counting is linear in the file, so it is done only for a message.
fn line_of(bytes: &[u8], position: Option<&csv::Position>) -> u64 {
    let Some(position) = position else {
        return 0;
    };
    let mut at = (position.byte() as usize).min(bytes.len());
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    1 + bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64
}

/// The first blank line after the header that has a non-blank line after it.
fn blank_line_before_data(bytes: &[u8]) -> Option<u64> {
    let blank = |line: &[u8]| line.iter().all(u8::is_ascii_whitespace);
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let last_data = lines.iter().rposition(|l| !blank(l))?;
    (1..last_data)
        .find(|&i| blank(lines[i]))
        .map(|i| i as u64 + 1)
}

/// The columns of `header` that the model observes, in the model's order.
fn observed_columns(
    file: &str,
    spec: &ModelSpec,
    header: &[String],
) -> Result<Vec<usize>, DataError> {
    match &spec.observed.columns {
        Columns::First(m) => {
            if header.len() < *m {
                Err(DataError::TooFewColumns {
                    file: file.to_string(),
                    found: header.len(),
                    expected: *m,
                    name: spec.observed.name.clone(),
                })
            } else {
                Ok((0..*m).collect())
            }
        }
        Columns::Named(names) => named_columns(file, names, header),
    }
}

/// The positions of `names` in `header`, in the order of `names`.
fn named_columns(file: &str, names: &[String], header: &[String]) -> Result<Vec<usize>, DataError> {
    names
        .iter()
        .map(|n| {
            let mut at = header
                .iter()
                .enumerate()
                .filter(|(_, h)| *h == n)
                .map(|(i, _)| i);
            match (at.next(), at.next()) {
                (Some(i), None) => Ok(i),
                (Some(_), Some(_)) => Err(DataError::AmbiguousColumn {
                    file: file.to_string(),
                    column: n.clone(),
                }),
                (None, _) => Err(DataError::NoSuchColumn {
                    file: file.to_string(),
                    column: n.clone(),
                    header: header.to_vec(),
                }),
            }
        })
        .collect()
}

impl Preprocessing {
    /// Column means and (population) standard deviations, and with `Preprocess::Whiten`
    /// the whitening matrix. A constant column is an error; so, for whitening, are
    /// linearly dependent columns.
    pub fn fit(file: &str, table: &Table, how: Preprocess) -> Result<Preprocessing, DataError> {
        let x = &table.values;
        let mut means = Vec::new();
        let mut sds = Vec::new();
        for (c, (mean, sd)) in crate::matrix::column_moments(x).into_iter().enumerate() {
            // NaN-safe: a deviation that is not clearly positive, relative to the values'
            // own size (columns of 1e-300 are not constant), counts as constant.
            if sd.is_nan() || sd == 0.0 || sd <= 1e-12 * mean.abs() {
                return Err(DataError::ConstantColumn {
                    file: file.to_string(),
                    column: table.columns[c].clone(),
                    value: x[[0, c]],
                });
            }
            means.push(mean);
            // `preprocess centre` keeps the data's own scale: the likelihood's variance is
            // then in the data's units, as IMA-VAE's decoder variance is.
            sds.push(if how == Preprocess::Centre { 1.0 } else { sd });
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
                WHITEN,
            )?);
        }
        Ok(fitted)
    }

    /// Whether FastICA can whiten `table` (read from `file`): no constant column, more rows
    /// than columns, and no column a combination of the others. FastICA on such data
    /// invents sources (or fails inside linfa); this says which columns are at fault.
    pub fn check_for_fastica(file: &str, table: &Table) -> Result<(), DataError> {
        // linfa-ica squares and multiplies the values as they are: past 1e150 they overflow
        // (and it spins or panics).
        for (c, column) in table.values.columns().into_iter().enumerate() {
            if let Some(&v) = column.iter().find(|v| v.abs() > FASTICA_LARGEST) {
                return Err(DataError::TooLargeForFastIca {
                    file: file.to_string(),
                    column: table.columns[c].clone(),
                    value: v,
                });
            }
        }
        let standardised = Preprocessing::fit(file, table, Preprocess::Standardise)?;
        Whitening::fit(
            file,
            &table.columns,
            &standardised.standardise(&table.values),
            FASTICA,
        )
        .map(|_| ())
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
        Matrix::from_shape_fn((y.nrows(), y.ncols()), |(r, c)| {
            y[[r, c]] * self.sds[c] + self.means[c]
        })
    }

    fn standardise(&self, x: &Matrix) -> Matrix {
        Matrix::from_shape_fn((x.nrows(), x.ncols()), |(r, c)| {
            (x[[r, c]] - self.means[c]) / self.sds[c]
        })
    }
}

/// The largest value FastICA is given: its squares and products must stay finite.
const FASTICA_LARGEST: f64 = 1e150;

/// Who whitens, and what to do about dependent columns: said in the errors.
type Whitener = (&'static str, &'static str);
const WHITEN: Whitener = (
    "`preprocess whiten`",
    "drop one, or use `preprocess standardise`",
);
const FASTICA: Whitener = ("FastICA, which whitens,", "drop one of them");

impl Whitening {
    /// From standardised columns `y` (named `columns`, read from `file`).
    fn fit(
        file: &str,
        columns: &[String],
        y: &Matrix,
        (by, fix): Whitener,
    ) -> Result<Whitening, DataError> {
        let m = y.ncols();
        // Centred, T rows span at most T − 1 directions.
        if y.nrows() <= m {
            return Err(DataError::TooFewRowsToWhiten {
                by,
                file: file.to_string(),
                rows: y.nrows(),
                columns: m,
            });
        }
        let rows = crate::matrix::to_nalgebra(y);
        let correlation = rows.tr_mul(&rows) / y.nrows() as f64;
        let eigen = nalgebra::SymmetricEigen::new(correlation);
        let largest = eigen.eigenvalues.max();
        let (smallest_at, smallest) = eigen.eigenvalues.argmin();
        if smallest <= DEPENDENT_COLUMNS * largest {
            // The columns that carry weight in the null direction are the dependent ones.
            let null = eigen.eigenvectors.column(smallest_at);
            let weight = null.amax();
            let involved: Vec<String> = (0..m)
                .filter(|&c| null[c].abs() > 0.1 * weight)
                .map(|c| columns[c].clone())
                .collect();
            return Err(DataError::DependentColumns {
                by,
                fix,
                file: file.to_string(),
                columns: involved,
            });
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

/// y · rowsᵀ, with `rows` a matrix given row by row.
fn times_transpose(y: &Matrix, rows: &[Vec<f64>]) -> Matrix {
    let cols = rows.first().map_or(0, Vec::len);
    y.dot(&crate::matrix::from_row_major(rows.len(), cols, rows.concat()).t())
}

/// `` `a` ``, `` `a` and `b` ``, `` `a`, `b` and `c` ``.
fn and_list(items: &[String]) -> String {
    match quoted(items).as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `v` with the digits an f32 carries. A value outside f32's range (data in its own units,
/// as `sample` writes them, may be 1e200 or 1e-300) keeps those nine digits in exponent
/// form instead of becoming `inf` or 0.
fn single(v: f64) -> String {
    let f = v as f32;
    if f.is_finite() && (f != 0.0 || v == 0.0) {
        format!("{f}")
    } else if v.is_finite() {
        format!("{v:.8e}")
    } else {
        format!("{v}")
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

/// Writes a matrix as CSV with a header row into any writer. Numbers use Rust's shortest
/// round-trip form, so the same values always give the same bytes.
pub fn write_csv_to(
    out: impl std::io::Write,
    header: &[String],
    x: &Matrix,
    precision: Precision,
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header)?;
    for r in 0..x.nrows() {
        w.write_record(x.row(r).iter().map(|&v| match precision {
            Precision::Single => single(v),
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
            columns: (0..x.ncols()).map(|c| format!("x{c}")).collect(),
            values: x,
        }
    }

    fn covariance(y: &Matrix) -> Vec<Vec<f64>> {
        let t = y.nrows() as f64;
        (0..y.ncols())
            .map(|a| {
                (0..y.ncols())
                    .map(|b| (0..y.nrows()).map(|r| y[[r, a]] * y[[r, b]]).sum::<f64>() / t)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn centring_keeps_the_scale_and_inverts() {
        let x = simulate(Scenario::Linear, 300, 3)
            .data
            .map(|v| 0.1 * v + 2.0);
        let p = Preprocessing::fit("sim", &table(x.clone()), Preprocess::Centre).unwrap();
        let y = p.apply(&x);
        let moments = crate::matrix::column_moments(&y);
        let original = crate::matrix::column_moments(&x);
        for ((mean, sd), (_, sd_x)) in moments.iter().zip(&original) {
            assert!(
                mean.abs() < 1e-12 && (sd - sd_x).abs() < 1e-12,
                "{mean} {sd} {sd_x}"
            );
        }
        let back = p.invert(&y);
        assert!(back
            .iter()
            .zip(x.iter())
            .all(|(a, b)| (a - b).abs() < 1e-12));
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
            .iter()
            .zip(x.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-10, "round trip off by {worst}");
    }

    #[test]
    fn whitening_uncorrelated_columns_changes_nothing_but_the_scale() {
        // Columns that are already uncorrelated: ZCA whitening is then the identity.
        let x =
            crate::matrix::from_row_major(4, 2, vec![1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0]);
        let p = Preprocessing::fit("grid", &table(x.clone()), Preprocess::Whiten).unwrap();
        let s = Preprocessing::fit("grid", &table(x.clone()), Preprocess::Standardise).unwrap();
        let (a, b) = (p.apply(&x), s.apply(&x));
        assert!(a.iter().zip(b.iter()).all(|(u, v)| (u - v).abs() < 1e-12));
        assert_eq!(s.invert(&b), x);
    }
}
