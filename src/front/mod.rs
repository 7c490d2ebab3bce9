//! Front end: `.pdg` text → syntax tree, with pest.
//!
//! The file is parsed one statement at a time so that a syntax error in one statement is
//! reported and the parser carries on at the next statement: every error in a file is
//! reported, not only the first. Nothing here panics on any input.

pub mod ast;

use crate::diagnostic::{did_you_mean, one_of, Diagnostic, Rule as Check, Span};
use crate::spec::{Postprocess, Preprocess};
use crate::words::STATEMENTS;
use ast::*;
use pest::error::{Error as PestError, InputLocation};
use pest::iterators::Pair;
use pest::Parser;
use pest_derive::Parser;

#[derive(Parser)]
#[grammar = "../grammar/pdg.pest"]
struct PdgParser;

/// Parses a model file into statements. Statements that failed to parse are left out and
/// reported in the diagnostics; the returned statements are the ones that parsed.
pub fn parse(source: &str) -> (Vec<Statement>, Vec<Diagnostic>) {
    // Parse attempts give the literal tokens pest expected (`[`, `=`, …) for the messages.
    pest::set_error_detail(true);
    let mut statements = Vec::new();
    let mut diagnostics = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &source[pos..];
        match PdgParser::parse(Rule::step, rest) {
            Ok(mut pairs) => {
                let step = pairs.next().expect("step");
                let Some(statement) = step.into_inner().find(|p| p.as_rule() == Rule::statement)
                else {
                    break; // only whitespace and comments were left
                };
                let end = statement.as_span().end();
                statements.push(build_statement(statement, pos));
                pos += end;
            }
            Err(error) => {
                let start = pos + leading_gap(rest);
                let diagnostic = syntax_error(source, start, pos, &error);
                // The rest of the file is inside an unterminated comment: nothing to parse.
                let in_comment = unterminated_comment(source, diagnostic.span.start);
                diagnostics.push(diagnostic);
                if in_comment {
                    break;
                }
                let error_at = pos + error_position(&error);
                match next_statement_start(source, error_at.max(start)) {
                    Some(next) => pos = next,
                    None => break,
                }
            }
        }
    }
    (statements, diagnostics)
}

/// Whether `word` starts a statement.
pub fn is_keyword(word: &str) -> bool {
    STATEMENTS.contains(&word)
}

/// Whether a `/*` at `at` is never closed (a closed one is whitespace to the grammar, so
/// a parse that fails at a `/*` has met an unterminated one).
fn unterminated_comment(source: &str, at: usize) -> bool {
    source
        .get(at..)
        .is_some_and(|rest| rest.starts_with("/*") && !rest[2..].contains("*/"))
}

/// Where the parser gave up: the furthest point any alternative reached.
fn error_position(error: &PestError<Rule>) -> usize {
    if let Some(attempts) = error.parse_attempts() {
        return attempts.max_position;
    }
    match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
}

/// An error found only after skipping to the next line belongs at the end of the line
/// where the text stopped: `observed x[3` is missing its `]` on line 1, not on line 2.
fn back_over_line_breaks(source: &str, at: usize) -> usize {
    // The `!reserved` check reads a whole keyword before failing; the error is at its start.
    let before = &source[..at];
    let word_start = before
        .trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
        .len();
    let at = if is_keyword(&before[word_start..]) {
        word_start
    } else {
        at
    };
    let before = &source[..at];
    let trimmed = before.trim_end();
    if before[trimmed.len()..].contains('\n') {
        trimmed.len()
    } else {
        at
    }
}

/// Bytes of whitespace and comments at the start of `text`.
fn leading_gap(text: &str) -> usize {
    PdgParser::parse(Rule::gap, text)
        .ok()
        .and_then(|mut p| p.next())
        .map_or(0, |p| p.as_span().end())
}

/// The start of the first line after `from` that begins a statement: a keyword, or a
/// name followed by `[` (a per-dimension prior).
fn next_statement_start(source: &str, from: usize) -> Option<usize> {
    let mut line_start = source[from..].find('\n')? + from + 1;
    loop {
        let line = &source[line_start..];
        let trimmed = line.trim_start();
        let word_at = line_start + (line.len() - trimmed.len());
        let word: String = trimmed
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let after = trimmed[word.len()..].trim_start();
        if is_keyword(&word) || (!word.is_empty() && after.starts_with('[')) {
            return Some(word_at);
        }
        line_start += line.find('\n')? + 1;
    }
}

/// Turns a pest error into a plain-words diagnostic.
fn syntax_error(
    source: &str,
    statement_start: usize,
    offset: usize,
    error: &PestError<Rule>,
) -> Diagnostic {
    let at = offset + error_position(error);
    if let Some(open) = [statement_start, at]
        .into_iter()
        .find(|&i| unterminated_comment(source, i))
    {
        return Diagnostic::new(
            Check::Syntax,
            open..open + 2,
            "unterminated comment: this `/*` has no closing `*/`",
        )
        .label("the comment opens here and runs to the end of the file")
        .help("close it with `*/`");
    }
    let first_word = word_at(source, statement_start);

    // A statement that does not start with a keyword (and is not `z[j] ~ …`).
    let after_first = source[statement_start + first_word.len()..].trim_start();
    let names_a_dimension = !first_word.is_empty() && after_first.starts_with('[');
    if !is_keyword(first_word) && !names_a_dimension {
        let span = token_span(source, statement_start);
        let found = describe_found(source, statement_start);
        let help = did_you_mean(first_word, &STATEMENTS).map(|k| format!("did you mean `{k}`?"));
        return Diagnostic::new(
            Check::Syntax,
            span,
            format!(
                "expected a statement ({}), found {found}",
                one_of(&STATEMENTS)
            ),
        )
        .label("not a statement")
        .help_opt(help);
    }

    let at = back_over_line_breaks(source, at);
    // The only way a `preprocess` or `postprocess` statement fails to parse is a missing
    // or reserved word.
    let expected = if first_word == "preprocess" {
        vec![one_of(&Preprocess::ALL.map(Preprocess::keyword))]
    } else if first_word == "postprocess" {
        vec![one_of(&Postprocess::ALL.map(Postprocess::keyword))]
    } else {
        expected_items(error)
    };
    let found = describe_found(source, at);
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_or(&expected))
    };
    Diagnostic::new(Check::Syntax, token_span(source, at), message)
        .label(format!("expected {}", join_or(&expected)))
}

/// What the parser was looking for at the furthest point it reached, in plain words.
fn expected_items(error: &PestError<Rule>) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !items.contains(&s) {
            items.push(s);
        }
    };
    let Some(attempts) = error.parse_attempts() else {
        return items;
    };
    for stack in attempts.call_stacks() {
        if let Some(text) = stack.deepest.get_rule().and_then(|r| describe_rule(*r)) {
            push(text.to_string());
        }
    }
    for token in attempts.expected_tokens() {
        // Keywords and punctuation are shown literally; the characters that make up names,
        // numbers, whitespace and comments would only be noise.
        let token = token.to_string();
        let keyword = token.len() > 1 && token.chars().all(|c| c.is_ascii_lowercase());
        if keyword || PUNCTUATION.contains(&token.as_str()) {
            push(format!("`{token}`"));
        }
    }
    items
}

const PUNCTUATION: [&str; 10] = ["[", "]", "{", "}", "(", ")", "=", "~", ",", ";"];

fn describe_rule(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident => "a name",
        Rule::integer => "a whole number",
        Rule::number => "a number",
        Rule::string => "a quoted column name",
        Rule::column => "a column name",
        Rule::statement | Rule::step => "a statement",
        Rule::kw_variance => "`variance`",
        Rule::prior | Rule::family | Rule::shared | Rule::reserved => {
            "a prior family (`gmm`, `normal`)"
        }
        Rule::arguments => "`(`",
        Rule::argument => "an argument",
        Rule::network | Rule::layers => "`{`, `linear` or `none`",
        Rule::layer => "a layer (`dense WIDTH ACTIVATION`)",
        Rule::setting => "a training setting",
        Rule::EOI => "the end of the file",
        _ => return None,
    })
}

fn join_or(items: &[String]) -> String {
    match items.len() {
        0 => "something else".to_string(),
        1 => items[0].clone(),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

/// The identifier starting at `at`, or "".
fn word_at(source: &str, at: usize) -> &str {
    let rest = &source[at.min(source.len())..];
    let len = rest
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(rest.len(), |(i, _)| i);
    &rest[..len]
}

/// The offending token at `at`: a word, or one character, or nothing at the end.
fn token_span(source: &str, at: usize) -> Span {
    let at = at.min(source.len());
    let word = word_at(source, at);
    if !word.is_empty() {
        return at..at + word.len();
    }
    match source[at..].chars().next() {
        Some('\n') | None => at..at,
        Some(c) => at..at + c.len_utf8(),
    }
}

fn describe_found(source: &str, at: usize) -> String {
    let span = token_span(source, at);
    let text = &source[span.clone()];
    if at >= source.len() {
        "the end of the file".to_string()
    } else if text.is_empty() {
        "the end of the line".to_string()
    } else {
        format!("`{}`", text.escape_debug())
    }
}

// ---- building the syntax tree from pest pairs -------------------------------------------
// The grammar guarantees the shape of each pair, so the `expect`s below cannot fail on any
// input that pest accepted.

fn span(pair: &Pair<Rule>, offset: usize) -> Span {
    let s = pair.as_span();
    offset + s.start()..offset + s.end()
}

fn word(pair: Pair<Rule>, offset: usize) -> Word {
    Spanned {
        span: span(&pair, offset),
        value: pair.as_str().to_string(),
    }
}

fn build_statement(pair: Pair<Rule>, offset: usize) -> Statement {
    let inner = pair.into_inner().next().expect("statement body");
    let keyword = {
        let s = inner.as_span();
        let text = s.as_str();
        let len = word_at(text, 0).len();
        offset + s.start()..offset + s.start() + len
    };
    let rule = inner.as_rule();
    let mut parts = inner
        .into_inner()
        .filter(|p| !is_keyword_token(p.as_rule()));
    let mut next = || parts.next().expect("grammar shape");
    let kind = match rule {
        Rule::model => StatementKind::Model(word(next(), offset)),
        Rule::observed => {
            let name = word(next(), offset);
            let cols = next();
            let columns = match cols.as_rule() {
                Rule::observed_count => {
                    ObservedColumns::Count(word(cols.into_inner().next().expect("count"), offset))
                }
                _ => ObservedColumns::Names(
                    cols.into_inner()
                        .map(|c| {
                            let w = word(c, offset);
                            Spanned {
                                value: w.value.trim_matches('"').to_string(),
                                span: w.span,
                            }
                        })
                        .collect(),
                ),
            };
            StatementKind::Observed { name, columns }
        }
        Rule::latent => {
            let name = word(next(), offset);
            let dim = word(next(), offset);
            let prior = parts.next().map(|p| build_prior(p, offset));
            StatementKind::Latent { name, dim, prior }
        }
        Rule::dimension_prior => {
            let name = word(next(), offset);
            let index = word(next(), offset);
            let prior = build_prior(next(), offset);
            StatementKind::DimensionPrior { name, index, prior }
        }
        Rule::preprocess => StatementKind::Preprocess(word(next(), offset)),
        Rule::postprocess => StatementKind::Postprocess(word(next(), offset)),
        Rule::encoder => StatementKind::Encoder(build_network(next(), offset)),
        Rule::decoder => StatementKind::Decoder(build_network(next(), offset)),
        Rule::posterior => StatementKind::PosteriorVariance(build_family(next(), offset)),
        Rule::likelihood => StatementKind::Likelihood(build_prior(next(), offset)),
        Rule::kl => StatementKind::Kl(build_family(next(), offset)),
        Rule::beta => {
            let value = word(next(), offset);
            let schedule = parts.next().map(|key| {
                let count = parts.next().expect("grammar shape: a schedule's count");
                (word(key, offset), word(count, offset))
            });
            StatementKind::Beta { value, schedule }
        }
        Rule::train => StatementKind::Train(
            parts
                .map(|s| {
                    let mut kv = s.into_inner();
                    Setting {
                        key: word(kv.next().expect("key"), offset),
                        value: word(kv.next().expect("value"), offset),
                    }
                })
                .collect(),
        ),
        other => unreachable!("statement rule {other:?}"),
    };
    Statement { keyword, kind }
}

fn is_keyword_token(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_model
            | Rule::kw_observed
            | Rule::kw_preprocess
            | Rule::kw_postprocess
            | Rule::kw_latent
            | Rule::kw_encoder
            | Rule::kw_decoder
            | Rule::kw_posterior
            | Rule::kw_variance
            | Rule::kw_likelihood
            | Rule::kw_kl
            | Rule::kw_beta
            | Rule::kw_train
    )
}

fn build_prior(pair: Pair<Rule>, offset: usize) -> PriorExpr {
    let mut shared = None;
    let mut family = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::shared => shared = Some(span(&p, offset)),
            _ => family = Some(build_family(p, offset)),
        }
    }
    PriorExpr {
        shared,
        family: family.expect("a prior has a family"),
    }
}

fn build_family(pair: Pair<Rule>, offset: usize) -> FamilyExpr {
    let mut parts = pair.into_inner();
    let name = word(parts.next().expect("family name"), offset);
    let arguments = parts.next().map(|args| Spanned {
        span: span(&args, offset),
        value: args
            .into_inner()
            .map(|arg| {
                let mut kv: Vec<Pair<Rule>> = arg.into_inner().collect();
                let value = word(kv.pop().expect("argument value"), offset);
                let key = kv.pop().map(|k| word(k, offset));
                Argument { key, value }
            })
            .collect(),
    });
    FamilyExpr { name, arguments }
}

fn build_network(pair: Pair<Rule>, offset: usize) -> NetworkExpr {
    let inner = pair.into_inner().next().expect("network body");
    match inner.as_rule() {
        Rule::ident => NetworkExpr::Word(word(inner, offset)),
        _ => NetworkExpr::Layers(
            inner
                .into_inner()
                .map(|layer| {
                    let mut p = layer.into_inner();
                    let kind = word(p.next().expect("layer kind"), offset);
                    match (p.next(), p.next()) {
                        (Some(width), Some(activation)) => LayerExpr::Dense {
                            kind,
                            width: word(width, offset),
                            activation: word(activation, offset),
                        },
                        _ => LayerExpr::Alone(kind),
                    }
                })
                .collect(),
        ),
    }
}
