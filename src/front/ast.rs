//! The syntax tree: what the file says, with spans, before any meaning is checked.
//! Numbers stay as their source text so the checker can say exactly what is wrong with them.

use crate::diagnostic::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

pub type Word = Spanned<String>;

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The statement's leading keyword (or name, for `z[0] ~ …`).
    pub keyword: Span,
    pub kind: StatementKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StatementKind {
    Model(Word),
    Observed {
        name: Word,
        columns: ObservedColumns,
    },
    Preprocess(Word),
    Postprocess(Word),
    Latent {
        name: Word,
        dim: Word,
        prior: Option<PriorExpr>,
    },
    DimensionPrior {
        name: Word,
        index: Word,
        prior: PriorExpr,
    },
    Encoder(NetworkExpr),
    Decoder(NetworkExpr),
    PosteriorVariance(FamilyExpr),
    /// `likelihood [shared] NAME(…)`: written like a prior.
    Likelihood(PriorExpr),
    /// `kl sample` or `kl quadrature(H)`.
    Kl(FamilyExpr),
    /// `beta VALUE [KEY COUNT]`: β and an optional schedule (`warmup 500`).
    Beta {
        value: Word,
        schedule: Option<(Word, Word)>,
    },
    Train(Vec<Setting>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ObservedColumns {
    Count(Word),
    Names(Vec<Word>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PriorExpr {
    pub shared: Option<Span>,
    pub family: FamilyExpr,
}

/// `name` or `name(arg, key = arg, …)`.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyExpr {
    pub name: Word,
    pub arguments: Option<Spanned<Vec<Argument>>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Argument {
    pub key: Option<Word>,
    pub value: Word,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NetworkExpr {
    /// `none`, `linear`, or a misspelling of them.
    Word(Word),
    Layers(Vec<LayerExpr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum LayerExpr {
    /// `dense 64 tanh`: the kind, width and activation as written.
    Dense {
        kind: Word,
        width: Word,
        activation: Word,
    },
    /// A word alone, `sigmoid`: an activation applied to the network's input.
    Alone(Word),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub key: Word,
    pub value: Word,
}
