//! Diagnostics: one type for syntax and semantic errors, one function that renders them.
//!
//! Rendering goes through codespan-reporting with ASCII characters and no colour, so the
//! text is stable enough to be tested as golden files.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor::NoColor, Chars, Config};
use std::ops::Range;

/// Byte range into the model source.
pub type Span = Range<usize>;

/// Which check a diagnostic comes from, so tests (and tools) can tell without reading text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The text does not follow the grammar.
    Syntax,
    /// The bytes are not UTF-8 text.
    NotUtf8,
    /// A statement, setting, column or dimension's prior is given twice.
    GivenTwice,
    /// A required statement (`observed`, `latent`) is missing.
    MissingStatement,
    /// Some latent dimension has no prior.
    MissingPrior,
    /// A number (or whole number) was expected.
    NotANumber,
    /// A number outside the values the setting allows.
    OutOfRange,
    /// A column name is empty.
    EmptyName,
    /// A word the language does not know in that place (family, layer, setting, …).
    UnknownWord,
    /// A family or mode got the wrong number or names of arguments.
    WrongArguments,
    /// Two statements that cannot hold together.
    Conflict,
    /// The model needs more memory than the machine has.
    TooLarge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The check that fired.
    pub rule: Rule,
    /// The headline: what is wrong, in plain words.
    pub message: String,
    /// Where; the caret goes under this text.
    pub span: Span,
    /// A short text printed beside the caret.
    pub label: String,
    /// A suggestion ("did you mean `tanh`?") or a hint.
    pub help: Option<String>,
    /// Another place that explains this one (the first of two duplicates, say).
    pub related: Option<(Span, String)>,
}

impl Diagnostic {
    pub fn new(rule: Rule, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            rule,
            message: message.into(),
            span,
            label: String::new(),
            help: None,
            related: None,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    pub fn related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related = Some((span, label.into()));
        self
    }
}

/// Everything wrong with a model text: the error of [`crate::compile`]. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the model has {} error(s)", .0.len())]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The text `pdgc check` prints: every diagnostic against the source, named `file_name`.
    pub fn render(&self, file_name: &str, source: &str) -> String {
        render(file_name, source, &self.0)
    }

    /// The rules that fired, in source order.
    pub fn rules(&self) -> Vec<Rule> {
        self.0.iter().map(|d| d.rule).collect()
    }
}

/// At most this many diagnostics are rendered; a line counts the rest. A file of a
/// million broken statements gets a page of errors, not a hundred megabytes.
pub const MAX_SHOWN: usize = 50;

/// Renders diagnostics as `error: …` blocks with `file:line:col`, the source line and a caret.
pub fn render(file_name: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let file = SimpleFile::new(file_name, source);
    let config = Config {
        chars: Chars::ascii(),
        ..Config::default()
    };
    let mut out = NoColor::new(Vec::new());
    for d in diagnostics.iter().take(MAX_SHOWN) {
        let mut labels = vec![Label::primary((), clamp(&d.span, source)).with_message(&d.label)];
        if let Some((span, text)) = &d.related {
            labels.push(Label::secondary((), clamp(span, source)).with_message(text));
        }
        let mut cs = CsDiagnostic::error()
            .with_message(&d.message)
            .with_labels(labels);
        if let Some(help) = &d.help {
            cs = cs.with_notes(vec![format!("help: {help}")]);
        }
        // Writing into a Vec cannot fail, and the spans were clamped to the source.
        term::emit(&mut out, &config, &file, &cs).expect("rendering a diagnostic");
    }
    let mut text = String::from_utf8_lossy(&out.into_inner()).into_owned();
    if diagnostics.len() > MAX_SHOWN {
        text += &format!(
            "error: and {} more errors (the first {MAX_SHOWN} are shown)\n",
            diagnostics.len() - MAX_SHOWN
        );
    }
    text
}

/// Keeps a span inside the source and on character boundaries, so rendering never panics.
fn clamp(span: &Span, source: &str) -> Span {
    let fit = |mut i: usize| {
        i = i.min(source.len());
        while !source.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = fit(span.start);
    let end = fit(span.end.max(span.start));
    start..end
}

/// The closest candidate to `word`, when it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

pub fn suggestion(word: &str, candidates: &[&str]) -> Option<String> {
    did_you_mean(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// `a`, `b` or `c`
pub fn one_of(candidates: &[&str]) -> String {
    let quoted: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}
