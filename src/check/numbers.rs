//! Numbers in a model file: each parsed once, as a finite number, a whole number or a
//! count, and held to the range training can use, so a bad one is reported where it
//! was written rather than clamped or overflowed later.

use super::Checker;
use crate::diagnostic::{Diagnostic, Rule};
use crate::front::ast::Word;
use crate::spec::{PRIOR_MEAN_LIMIT, VARIANCE_RANGE};

impl Checker {
    pub(super) fn number(&mut self, w: &Word, what: &str) -> Option<f64> {
        match w.value.parse::<f64>() {
            Ok(x) if x.is_finite() => Some(x),
            _ => {
                self.error(
                    Diagnostic::new(
                        Rule::NotANumber,
                        w.span.clone(),
                        format!("expected a number for {what}, found `{}`", w.value),
                    )
                    .label("not a finite number"),
                );
                None
            }
        }
    }

    pub(super) fn whole(&mut self, w: &Word, what: &str) -> Option<u64> {
        match w.value.parse::<u64>() {
            Ok(x) => Some(x),
            Err(_) => {
                let why = if w.value.chars().all(|c| c.is_ascii_digit()) {
                    "too large"
                } else {
                    "not a whole number"
                };
                self.error(
                    Diagnostic::new(
                        Rule::NotANumber,
                        w.span.clone(),
                        format!("expected a whole number for {what}, found `{}`", w.value),
                    )
                    .label(why),
                );
                None
            }
        }
    }

    /// A variance: positive, and inside the range training keeps log-variances in (a value
    /// outside it would be clamped, i.e. silently changed).
    pub(super) fn variance(&mut self, w: &Word, what: &str) -> Option<f64> {
        let v = self.number(w, what)?;
        let (lo, hi) = VARIANCE_RANGE;
        let d = if v <= 0.0 {
            Diagnostic::new(
                Rule::OutOfRange,
                w.span.clone(),
                format!("a variance must be > 0, found {}", w.value),
            )
            .label("not positive")
        } else if !(lo..=hi).contains(&v) {
            Diagnostic::new(
                Rule::OutOfRange,
                w.span.clone(),
                format!(
                    "a variance must be between {lo:e} and {hi}, found {}",
                    w.value
                ),
            )
            .label("outside the range training keeps")
            .help("training keeps variances within these bounds (the data are standardised)")
        } else {
            return Some(v);
        };
        self.error(d);
        None
    }

    /// The mean of a fixed normal prior, within ±`PRIOR_MEAN_LIMIT`.
    pub(super) fn prior_mean(&mut self, w: &Word) -> Option<f64> {
        let mean = self.number(w, "the mean")?;
        if mean.abs() <= PRIOR_MEAN_LIMIT {
            return Some(mean);
        }
        self.error(
            Diagnostic::new(
                Rule::OutOfRange,
                w.span.clone(),
                format!(
                    "a prior mean must be within ±{PRIOR_MEAN_LIMIT:e}, found {}",
                    w.value
                ),
            )
            .label("too far from 0")
            .help("the latents are on the scale of standardised data"),
        );
        None
    }

    /// A whole number ≥ 1 that sizes something.
    pub(super) fn count(&mut self, w: &Word, what: &str) -> Option<usize> {
        self.count_up_to(w, what, 1 << 40)
    }

    /// A whole number from 1 to `max`. Sizes of per-dimension structures (latent and
    /// observed dimensions, mixture components) are held to a `max` the checker itself can
    /// allocate for; larger ones are refused, never tried.
    pub(super) fn count_up_to(&mut self, w: &Word, what: &str, max: u64) -> Option<usize> {
        let x = self.whole(w, what)?;
        if x == 0 {
            self.error(
                Diagnostic::new(
                    Rule::OutOfRange,
                    w.span.clone(),
                    format!("{what} must be at least 1, found 0"),
                )
                .label("zero"),
            );
            return None;
        }
        match usize::try_from(x) {
            Ok(x) if x as u64 <= max => Some(x),
            _ => {
                self.error(
                    Diagnostic::new(
                        Rule::OutOfRange,
                        w.span.clone(),
                        format!("{what} is too large"),
                    )
                    .help(format!("at most {max}"))
                    .label("too large"),
                );
                None
            }
        }
    }
}
