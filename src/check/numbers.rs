//! Numbers in a model file: each parsed once, as a finite number, a whole number or a
//! count, and held to the range training can use, so a bad one is reported where it
//! was written rather than clamped or overflowed later.

use super::Checker;
use crate::diagnostic::{Diagnostic, Rule};
use crate::front::ast::Word;
use crate::spec::{limits, PRIOR_MEAN_LIMIT, SCALE_RANGE, VARIANCE_RANGE};

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

    /// `x`, read from `w`, if it keeps every limit of its range; else the first limit it
    /// breaks is reported at `w`, in the one wording every range shares.
    fn within(&mut self, w: &Word, x: f64, subject: &str, range: &[Limit]) -> Option<f64> {
        let Some(broken) = range.iter().find(|l| !l.kept) else {
            return Some(x);
        };
        self.error(
            Diagnostic::new(
                Rule::OutOfRange,
                w.span.clone(),
                format!("{subject} must {}, found {}", broken.must, w.value),
            )
            .label(broken.label)
            .help_opt(broken.help.map(String::from)),
        );
        None
    }

    /// A variance: positive, and inside the range training keeps log-variances in (a value
    /// outside it would be clamped, i.e. silently changed).
    pub(super) fn variance(&mut self, w: &Word, what: &str) -> Option<f64> {
        let v = self.number(w, what)?;
        let (lo, hi) = VARIANCE_RANGE;
        let range = [
            Limit::new(v > 0.0, "be > 0", "not positive"),
            Limit::new(
                (lo..=hi).contains(&v),
                format!("be between {lo:e} and {hi}"),
                "outside the range training keeps",
            )
            .help("training keeps variances within these bounds (the data are standardised)"),
        ];
        self.within(w, v, "a variance", &range)
    }

    /// A scale (a fixed logistic prior's): positive, and inside `SCALE_RANGE`, whose
    /// squares are variances training keeps (a value outside would be clamped).
    pub(super) fn scale(&mut self, w: &Word, what: &str) -> Option<f64> {
        let s = self.number(w, what)?;
        let (lo, hi) = SCALE_RANGE;
        let range = [
            Limit::new(s > 0.0, "be > 0", "not positive"),
            Limit::new(
                (lo..=hi).contains(&s),
                format!("be between {lo:e} and {hi}"),
                "outside the range training keeps",
            )
            .help("training keeps scales within these bounds (the data are standardised)"),
        ];
        self.within(w, s, "a scale", &range)
    }

    /// The mean of a fixed normal prior, within ±`PRIOR_MEAN_LIMIT`.
    pub(super) fn prior_mean(&mut self, w: &Word) -> Option<f64> {
        self.prior_centre(w, "the mean", "a prior mean")
    }

    /// The location of a fixed logistic prior, within ±`PRIOR_MEAN_LIMIT`.
    pub(super) fn prior_location(&mut self, w: &Word) -> Option<f64> {
        self.prior_centre(w, "the location", "a prior location")
    }

    fn prior_centre(&mut self, w: &Word, what: &str, subject: &str) -> Option<f64> {
        let centre = self.number(w, what)?;
        let range = [Limit::new(
            centre.abs() <= PRIOR_MEAN_LIMIT,
            format!("be within ±{PRIOR_MEAN_LIMIT:e}"),
            "too far from 0",
        )
        .help("the latents are on the scale of standardised data")];
        self.within(w, centre, subject, &range)
    }

    /// β, the KL term's weight: from 0 to `limits::BETA_MAX`.
    pub(super) fn beta(&mut self, w: &Word) -> Option<f64> {
        let b = self.number(w, "β")?;
        let help = "β weighs the KL term: 0 turns it off, 1 is the ELBO";
        let most = format!("be at most {:e}", limits::BETA_MAX);
        let range = [
            Limit::new(b >= 0.0, "be ≥ 0", "negative β"),
            Limit::new(b <= limits::BETA_MAX, most, "too large"),
        ]
        .map(|l| l.help(help));
        self.within(w, b, "β", &range)
    }

    /// Adam's learning rate: above 0, at most `limits::LR_MAX`.
    pub(super) fn learning_rate(&mut self, w: &Word) -> Option<f64> {
        let lr = self.number(w, "the learning rate")?;
        let help =
            "Adam moves each parameter by about the learning rate per step: 1e-4 to 1e-2 is usual";
        let most = format!("be at most {}", limits::LR_MAX);
        let range = [
            Limit::new(lr > 0.0, "be > 0", "not positive"),
            Limit::new(lr <= limits::LR_MAX, most, "too large"),
        ]
        .map(|l| l.help(help));
        self.within(w, lr, "the learning rate", &range)
    }

    /// The relative change of the loss below which training stops: strictly between 0 and 1.
    pub(super) fn tolerance(&mut self, w: &Word) -> Option<f64> {
        let tol = self.number(w, "the tolerance")?;
        let help = "`tol 1e-4` stops once the loss changes by less than 0.01 % between windows of 100 epochs";
        let range = [Limit::new(
            tol > 0.0 && tol < 1.0,
            "lie between 0 and 1",
            "a relative change",
        )
        .help(help)];
        self.within(w, tol, "the tolerance", &range)
    }
}

/// One side of the range a number must lie in: whether the value keeps to it, and the
/// words for one that does not, reported as "SUBJECT must MUST, found VALUE".
struct Limit {
    kept: bool,
    /// What the value must do: "be > 0", "lie between 0 and 1".
    must: String,
    label: &'static str,
    help: Option<&'static str>,
}

impl Limit {
    fn new(kept: bool, must: impl Into<String>, label: &'static str) -> Self {
        Limit {
            kept,
            must: must.into(),
            label,
            help: None,
        }
    }

    fn help(self, help: &'static str) -> Self {
        Limit {
            help: Some(help),
            ..self
        }
    }
}
