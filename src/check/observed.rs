//! The data the model sees: the `observed` columns, named or counted, and how they are
//! preprocessed.

use super::{Checker, DIMENSIONS_MAX};
use crate::diagnostic::{Diagnostic, Rule};
use crate::front::ast::{ObservedColumns, Word};
use crate::spec::{Columns, Observed, Postprocess, Preprocess};

impl Checker {
    pub(super) fn observed(&mut self, name: &Word, columns: &ObservedColumns) -> Option<Observed> {
        let columns = match columns {
            ObservedColumns::Count(w) => Columns::First(self.count_up_to(
                w,
                "the number of observed columns",
                DIMENSIONS_MAX,
            )?),
            ObservedColumns::Names(names) => {
                let mut ok = true;
                for (i, c) in names.iter().enumerate() {
                    if let Some(first) = names[..i].iter().find(|p| p.value == c.value) {
                        ok = false;
                        self.error(
                            Diagnostic::new(
                                Rule::GivenTwice,
                                c.span.clone(),
                                format!("column `{}` is observed twice", c.value),
                            )
                            .label("again here")
                            .related(first.span.clone(), "first here"),
                        );
                    }
                    if c.value.is_empty() {
                        ok = false;
                        self.error(
                            Diagnostic::new(
                                Rule::EmptyName,
                                c.span.clone(),
                                "a column name cannot be empty",
                            )
                            .label("empty"),
                        );
                    }
                }
                if !ok {
                    return None;
                }
                Columns::Named(names.iter().map(|c| c.value.clone()).collect())
            }
        };
        Some(Observed {
            name: name.value.clone(),
            columns,
        })
    }

    pub(super) fn preprocess(&mut self, w: &Word) -> Option<Preprocess> {
        self.word_of(w, "preprocessing", &Preprocess::ALL, Preprocess::keyword)
    }

    pub(super) fn postprocess(&mut self, w: &Word) -> Option<Postprocess> {
        self.word_of(w, "postprocessing", &Postprocess::ALL, Postprocess::keyword)
    }
}
