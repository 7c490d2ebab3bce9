//! The `train { }` block: how long and how fast to train, the bound, the batches, the
//! restarts and the seed.

use super::Checker;
use crate::diagnostic::{suggestion, Diagnostic, Rule};
use crate::front::ast::{Setting, Word};
use crate::spec::{defaults, Batch, Bound, Choose, Init, Start, Train};
use crate::words::{self, SETTINGS};

/// `train { restarts }`: each restart running at once holds a model; 1024 is far beyond
/// what helps and keeps a typo from asking for millions.
const RESTARTS_MAX: u64 = 1024;

impl Checker {
    pub(super) fn train(&mut self, settings: &[Setting]) -> Option<Train> {
        let mut t = defaults::train();
        let mut seen: Vec<&Word> = Vec::new();
        let mut ok = true;
        let mut bound_at = None;
        let mut choose_at = None;
        let mut start_at = None;
        for s in settings {
            let key = s.key.value.as_str();
            if let Some(first) = seen.iter().find(|w| w.value == key) {
                ok = false;
                self.error(
                    Diagnostic::new(
                        Rule::GivenTwice,
                        s.key.span.clone(),
                        format!("`{key}` is set twice"),
                    )
                    .label("second one here")
                    .related(first.span.clone(), "first set here"),
                );
                continue;
            }
            seen.push(&s.key);
            let v = &s.value;
            let set = match key {
                words::EPOCHS => self.count(v, "epochs").map(|x| t.epochs = x),
                words::SAMPLES => self.count(v, "samples").map(|x| t.samples = x),
                words::BOUND => {
                    bound_at = Some(v.span.clone());
                    self.bound(v).map(|b| t.bound = b)
                }
                words::RESTARTS => self
                    .count_up_to(v, "the number of restarts", RESTARTS_MAX)
                    .map(|x| t.restarts = x),
                words::CHOOSE => {
                    choose_at = Some(v.span.clone());
                    self.choose(v).map(|c| t.choose = c)
                }
                words::START => {
                    start_at = Some(v.span.clone());
                    self.word_of(v, "start", &Start::ALL, Start::keyword)
                        .map(|x| t.start = x)
                }
                words::INIT => self
                    .word_of(v, "init", &Init::ALL, Init::keyword)
                    .map(|x| t.init = x),
                words::SEED => self.whole(v, "the seed").map(|x| t.seed = x),
                words::TOL => self.tolerance(v).map(|x| t.tol = Some(x)),
                words::LR => self.learning_rate(v).map(|x| t.lr = x),
                words::BATCH if v.value == words::FULL => {
                    t.batch = Batch::Full;
                    Some(())
                }
                words::BATCH => {
                    if v.value.starts_with(|c: char| c.is_ascii_alphabetic()) {
                        self.error(
                            Diagnostic::new(
                                Rule::NotANumber,
                                v.span.clone(),
                                format!("expected `full` or a batch size, found `{}`", v.value),
                            )
                            .label("not a batch size")
                            .help_opt(suggestion(&v.value, &[words::FULL])),
                        );
                        None
                    } else {
                        self.count(v, "the batch size")
                            .map(|b| t.batch = Batch::Size(b))
                    }
                }
                other => {
                    self.unknown(s.key.span.clone(), "training setting", other, &SETTINGS);
                    None
                }
            };
            ok &= set.is_some();
        }
        if let (Bound::Iwae, 1, Some(at)) = (t.bound, t.samples, bound_at) {
            ok = false;
            self.error(
                Diagnostic::new(
                    Rule::Conflict,
                    at,
                    "the importance-weighted bound needs several samples",
                )
                .label("with `samples 1` this is the ELBO")
                .help("set `samples 8` (or more) in the same block"),
            );
        }
        if let (1, Some(at)) = (t.restarts, choose_at) {
            ok = false;
            self.error(
                Diagnostic::new(
                    Rule::Conflict,
                    at,
                    "`choose` picks among restarts, and there is one",
                )
                .label("nothing to choose from")
                .help("set `restarts 8` (or more) in the same block"),
            );
        }
        if let (1, Start::FasticaAndRandom, Some(at)) = (t.restarts, t.start, start_at) {
            ok = false;
            self.error(
                Diagnostic::new(
                    Rule::Conflict,
                    at,
                    "`fastica_and_random` starts one restart at FastICA and the others at random, and there is one",
                )
                .label("needs restarts")
                .help("set `restarts 2` (or more) in the same block"),
            );
        }
        ok.then_some(t)
    }

    /// The settings an invertible encoder has no use for: it draws no Monte-Carlo samples
    /// and has no decoder to start at FastICA's map back.
    pub(super) fn train_for_invertible(&mut self, settings: &[Setting], t: &Train) {
        for s in settings {
            let unused = match s.key.value.as_str() {
                words::SAMPLES if t.samples != 1 => "it draws no Monte-Carlo samples",
                words::BOUND if t.bound != Bound::Elbo => "its objective is exact: there is no bound to tighten",
                words::INIT if t.init != Init::Pytorch => "its maps start near the identity (monotone) and at random rotations (affine), with no dense layer to draw",
                words::START if t.start == Start::FasticaAutoencoder => "its decoder is its inverse, with nothing of its own to start (`start fastica` starts the encoder)",
                _ => continue,
            };
            self.error(
                Diagnostic::new(
                    Rule::Conflict,
                    s.key.span.start..s.value.span.end,
                    format!(
                        "an invertible encoder cannot use `{} {}`: {unused}",
                        s.key.value, s.value.value
                    ),
                )
                .label("not with an invertible encoder")
                .help("remove this setting"),
            );
        }
    }

    pub(super) fn choose(&mut self, w: &Word) -> Option<Choose> {
        self.word_of(w, "restart choice", &Choose::ALL, Choose::keyword)
    }

    pub(super) fn bound(&mut self, w: &Word) -> Option<Bound> {
        self.word_of(w, "bound", &Bound::ALL, Bound::keyword)
    }
}
