//! `report.html`: one self-contained page (figures inline, no scripts, nothing fetched).

use super::{escape, Figure, FitView, MAX_DRAWN};
use crate::eval::Recovery;
use crate::numeric::PriorDensity;
use std::fmt::Write;

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1160px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
p.summary { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.2em 0.8em; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { font-weight: 600; background: #f6f6f6; }
td.text { text-align: left; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
figure { margin: 1.2em 0; }
figure > svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.92em; margin-top: 0.3em; }
nav a { margin-right: 1em; }
";

/// A number for a table: four significant digits, or scientific notation when very large
/// or very small.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.3e}");
    }
    let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
    format!("{v:.decimals$}")
}

fn row(out: &mut String, cells: &[String]) {
    out.push_str("<tr>");
    for c in cells {
        let _ = write!(out, "<td>{c}</td>");
    }
    out.push_str("</tr>\n");
}

fn head(out: &mut String, cells: &[&str]) {
    out.push_str("<table>\n<tr>");
    for c in cells {
        let _ = write!(out, "<th>{c}</th>");
    }
    out.push_str("</tr>\n");
}

pub fn page(view: &FitView, figures: &[Figure], recovery: Option<&Recovery>) -> String {
    let spec = &view.spec;
    let z = &spec.latent.name;
    let trace = &view.trace;
    let name = escape(&spec.name);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"generator\" content=\"pdgc\">\n\
         <title>pdgc report: {name}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>pdgc report: model <code>{name}</code></h1>\n"
    );
    let last = trace.epochs.len().checked_sub(1);
    let mut summary = format!(
        "{} rows, {} observed columns, {} latent dimensions",
        view.means.nrows(),
        spec.m(),
        spec.n()
    );
    if let Some(i) = last {
        let _ = write!(
            summary,
            "; trained {} epochs, final loss {}",
            trace.epochs[i],
            number(trace.loss[i])
        );
    }
    if let (Some(r), Some(t)) = (recovery, &view.truth) {
        let _ = write!(
            summary,
            "; MCC {:.4} against <code>{}</code>",
            r.mcc,
            escape(&t.file)
        );
    }
    let _ = writeln!(out, "<p class=\"summary\">{summary}.</p>");
    out.push_str("<nav>");
    for f in figures {
        let _ = write!(out, "<a href=\"#{0}\">{0}</a>", f.name);
    }
    out.push_str("<a href=\"#priors\">priors</a><a href=\"#model\">model</a><a href=\"#settings\">settings</a></nav>\n");

    if let (Some(r), Some(t)) = (recovery, &view.truth) {
        out.push_str("<h2 id=\"recovery-table\">Recovery</h2>\n");
        let _ = writeln!(
            out,
            "<p>MCC (mean |Pearson| after Hungarian matching) <b>{:.4}</b>; Spearman MCC {:.4}.</p>",
            r.mcc, r.mcc_spearman
        );
        head(&mut out, &["true source", "matched", "|corr|"]);
        for (i, j) in r.matching.iter().enumerate() {
            row(
                &mut out,
                &[
                    escape(&t.columns[i]),
                    j.map_or("—".to_string(), |j| format!("{z}{j}")),
                    format!("{:.4}", r.per_source[i]),
                ],
            );
        }
        out.push_str("</table>\n");
    }

    if let Some(i) = last {
        out.push_str("<h2>Final terms</h2>\n");
        head(&mut out, &["term", "value"]);
        for (term, values) in super::terms(spec, trace) {
            row(&mut out, &[term.into(), number(values[i])]);
        }
        out.push_str("</table>\n");
    }

    out.push_str("<h2>Figures</h2>\n");
    if spec.n() > MAX_DRAWN {
        let _ = writeln!(
            out,
            "<p>The figures show the first {MAX_DRAWN} of the {} latent dimensions.</p>",
            spec.n()
        );
    }
    for f in figures {
        let _ = write!(
            out,
            "<figure id=\"{0}\">\n<!-- figure:{0} -->\n{1}<!-- /figure -->\n<figcaption>{2}</figcaption>\n</figure>\n",
            f.name,
            f.svg,
            escape(&f.caption)
        );
    }

    out.push_str("<h2 id=\"priors\">Fitted priors</h2>\n");
    head(
        &mut out,
        &[
            "dimension",
            "family",
            "component",
            "weight",
            "mean",
            "variance",
            "posterior σ²",
        ],
    );
    for (j, p) in view.priors.iter().enumerate() {
        let mut family = escape(&spec.prior.family(j).to_pdg());
        // (component, weight, mean, variance) rows: a mixture's components, or the one
        // density, its location as the mean (the t's mean when ν > 1), its variance.
        let components: Vec<(String, f64, f64, f64)> = match p {
            PriorDensity::Mixture(m) => (0..m.weights.len())
                .map(|k| (k.to_string(), m.weights[k], m.means[k], m.variances[k]))
                .collect(),
            PriorDensity::Laplace { location, scale }
            | PriorDensity::Logistic { location, scale } => {
                let _ = write!(family, " (scale {})", number(*scale));
                vec![("–".into(), 1.0, *location, p.variance())]
            }
            PriorDensity::StudentT {
                location,
                scale,
                dof,
            } => {
                let _ = write!(family, " (scale {}, ν {})", number(*scale), number(*dof));
                vec![("–".into(), 1.0, *location, p.variance())]
            }
        };
        for (k, (component, weight, mean, variance)) in components.into_iter().enumerate() {
            let first = k == 0;
            row(
                &mut out,
                &[
                    if first {
                        format!("{z}{j}")
                    } else {
                        String::new()
                    },
                    if first { family.clone() } else { String::new() },
                    component,
                    number(weight),
                    number(mean),
                    number(variance),
                    if first {
                        view.posterior_variances
                            .get(j)
                            .map_or(String::new(), |&v| number(v))
                    } else {
                        String::new()
                    },
                ],
            );
        }
    }
    out.push_str("</table>\n");

    out.push_str("<h2 id=\"model\">Model file</h2>\n");
    match &view.model_text {
        Some(text) => {
            let _ = writeln!(out, "<pre>{}</pre>", escape(text));
        }
        None => {
            let _ = writeln!(
                out,
                "<p>This fit did not keep the model file as written; the normalised model:</p>\n<pre>{}</pre>",
                escape(&spec.to_pdg())
            );
        }
    }

    out.push_str("<h2 id=\"settings\">Settings</h2>\n");
    head(&mut out, &["setting", "value"]);
    for (k, v) in &view.settings {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"text\">{}</td></tr>",
            escape(k),
            escape(v)
        );
    }
    out.push_str("</table>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_have_four_significant_digits() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1.0), "1.000");
        assert_eq!(number(0.012345), "0.01235");
        assert_eq!(number(-123.456), "-123.5");
        assert_eq!(number(12345.6), "12346");
        assert_eq!(number(1e-5), "1.000e-5");
        assert_eq!(number(2.5e7), "2.500e7");
    }
}
