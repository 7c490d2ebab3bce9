//! The report: every figure is well-formed SVG with the panels and series it should hold,
//! the page holds every figure and its text is golden; through the binary, `fit` writes it
//! (or not, with --no-plots) and `pdgc report` draws it again, replacing only its own files.

use crate::util::*;
use pdgc::backend::Terms;
use pdgc::matrix::Matrix;
use pdgc::numeric::{Mixture, PriorDensity};
use pdgc::report::{render, FitView, Options, Truth};
use pdgc::train::TraceRow;
use std::collections::BTreeSet;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// A small fit in memory: 2 latent dimensions (a learnable 3-component GMM and a fixed
/// normal), 400 rows, 50 epochs, with or without the truth.
pub fn view(with_truth: bool) -> FitView {
    view_and_trace(with_truth).0
}

/// The small fit and its trace.csv.
pub fn view_and_trace(with_truth: bool) -> (FitView, Vec<u8>) {
    let text = "model tiny\nobserved x[2]\nlatent z[2] ~ gmm(K = 3)\nz[1] ~ normal(0, 1)\ndecoder linear\ntrain { epochs 50 }\n";
    let spec = pdgc::compile(text).unwrap();
    let rows = 400;
    let truth = Matrix::from_shape_fn((rows, 2), |(r, c)| {
        let t = r as f64;
        if c == 0 {
            (t * 0.37).sin().signum() + 0.2 * (t * 1.3).cos()
        } else {
            (t * 0.11).cos()
        }
    });
    // The estimates are the truth swapped, one of them flipped and scaled, with a little noise.
    let means = Matrix::from_shape_fn((rows, 2), |(r, c)| match c {
        0 => 3.0 * truth[[r, 1]] + 0.1 * (r as f64 * 2.1).sin(),
        _ => -0.5 * truth[[r, 0]],
    });
    let sds = Matrix::from_shape_fn((rows, 2), |(r, c)| 0.1 + 0.01 * ((r + c) % 5) as f64);
    let gmm = |shift: f64| {
        PriorDensity::Mixture(Mixture {
            weights: vec![0.2, 0.3, 0.5],
            means: vec![-1.0 + shift, 0.0, 1.0],
            variances: vec![0.3, 0.2, 0.4 + shift],
        })
    };
    let normal = PriorDensity::Mixture(Mixture {
        weights: vec![1.0],
        means: vec![0.0],
        variances: vec![1.0],
    });
    let trace: Vec<TraceRow> = (1..=50)
        .map(|epoch| {
            let e = epoch as f64;
            let recorded = epoch % 5 == 0 || epoch == 1;
            TraceRow {
                epoch,
                terms: Terms {
                    loss: 2.0 / e,
                    reconstruction: 1.0 / (e * e * e),
                    log_q: 0.5,
                    log_p: -0.1 * e,
                },
                beta: 1.0,
                posterior_variances: vec![1.0 / e, 0.5],
                noise_variances: Vec::new(),
                priors: recorded.then(|| vec![gmm(0.01 * e), normal.clone()]),
                recovery: (with_truth && recorded).then(|| vec![0.5 + 0.009 * e, 0.9]),
                skipped_steps: 0,
            }
        })
        .collect();
    let bytes = trace_csv(&spec, &trace, with_truth);
    let trace = pdgc::trace::Trace::parse("trace.csv", &spec, &bytes).unwrap();
    let view = FitView {
        model_text: Some(text.to_string()),
        settings: vec![
            ("data file".into(), "tiny.csv".into()),
            ("seed".into(), "0".into()),
        ],
        trace,
        means,
        sds,
        priors: vec![gmm(0.5), normal],
        posterior_variances: vec![0.02, 0.5],
        truth: with_truth.then(|| Truth {
            file: "truth.csv".into(),
            columns: vec!["s0".into(), "s1".into()],
            values: truth,
        }),
        spec,
    };
    (view, bytes)
}

/// The trace as `fit` writes it.
pub fn trace_csv(spec: &pdgc::ModelSpec, trace: &[TraceRow], with_truth: bool) -> Vec<u8> {
    let names = ["s0".to_string(), "s1".to_string()];
    let names: &[String] = if with_truth { &names } else { &[] };
    pdgc::trace::to_csv(spec, trace, names)
}

/// Per panel (nested `<svg class="panel">`): its title and the number of data series,
/// which are the only lines two pixels wide, each in its own colour.
fn panels(svg: &str) -> Vec<(String, usize)> {
    let doc = roxmltree::Document::parse(svg).expect("the SVG parses as XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    root.children()
        .filter(|n| n.has_tag_name("svg") && n.attribute("class") == Some("panel"))
        .map(|panel| {
            let title = panel
                .children()
                .find(|n| n.has_tag_name("title"))
                .and_then(|t| t.text())
                .unwrap_or("")
                .to_string();
            let colours: BTreeSet<&str> = panel
                .descendants()
                .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
                .filter_map(|n| n.attribute("stroke"))
                .collect();
            (title, colours.len())
        })
        .collect()
}

fn figure<'a>(report: &'a pdgc::report::Report, name: &str) -> &'a str {
    &report
        .figures
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no {name} figure"))
        .svg
}

#[test]
fn every_figure_holds_its_panels_and_series() {
    let report = render(&view(true), &Options { rows: 120 }).unwrap();
    let names: Vec<&str> = report.figures.iter().map(|f| f.name).collect();
    assert_eq!(names, ["training", "distributions", "sources", "recovery"]);

    // Loss, reconstruction, KL: one line each; σ²: one per dimension; |corr|: one per
    // true source; then the learnable prior's weights, means, variances: one per component.
    let training = panels(figure(&report, "training"));
    let expected: Vec<(&str, usize)> = vec![
        ("loss (eq. 39)", 1),
        ("reconstruction", 1),
        ("KL term (log q − log p)/Tm", 1),
        ("posterior variance σ²", 2),
        ("|corr| with the truth", 2),
        ("z0 prior weights", 3),
        ("z0 prior means", 3),
        ("z0 prior variances", 3),
    ];
    let got: Vec<(&str, usize)> = training.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    assert_eq!(got, expected);

    // Matched in truth order: s0 ↔ z1, s1 ↔ z0. The estimate's panel has the prior and
    // its three dashed components (z0), or the prior alone (z1: one component); the
    // truth's panel is a histogram only.
    let distributions = panels(figure(&report, "distributions"));
    let got: Vec<(&str, usize)> = distributions
        .iter()
        .map(|(t, n)| (t.as_str(), *n))
        .collect();
    assert_eq!(
        got,
        [
            ("z1: posterior means and prior", 1),
            ("s0: true source", 0),
            ("z0: posterior means and prior", 4),
            ("s1: true source", 0),
        ]
    );
    // Histogram bars: √400 = 20 per panel.
    let doc = roxmltree::Document::parse(figure(&report, "distributions")).unwrap();
    let bars = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("opacity") != Some("1"))
        .count();
    assert!(bars >= 4 * 20, "{bars} bars");

    // Sources: the estimate and the truth in each; recovery: one scatter per source.
    let sources = panels(figure(&report, "sources"));
    assert_eq!(sources.len(), 2);
    assert!(sources.iter().all(|(_, n)| *n == 2), "{sources:?}");
    assert!(sources[0].0.starts_with("s0 and z1"), "{sources:?}");
    let recovery = panels(figure(&report, "recovery"));
    assert_eq!(recovery.len(), 2);
    let doc = roxmltree::Document::parse(figure(&report, "recovery")).unwrap();
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("circle"))
            .count(),
        2 * 400,
        "every row of both sources, under the thinning limit"
    );
    let rec = report.recovery.as_ref().unwrap();
    assert_eq!(rec.matching, [Some(1), Some(0)]);
    assert!(rec.mcc > 0.99, "{}", rec.mcc);
}

#[test]
fn without_the_truth_there_is_no_recovery_figure() {
    let report = render(&view(false), &Options::default()).unwrap();
    let names: Vec<&str> = report.figures.iter().map(|f| f.name).collect();
    assert_eq!(names, ["training", "distributions", "sources"]);
    let training = panels(figure(&report, "training"));
    assert_eq!(training.len(), 7, "no |corr| panel");
    let distributions = panels(figure(&report, "distributions"));
    assert_eq!(
        distributions,
        [
            ("z0: posterior means and prior".to_string(), 4),
            ("z1: posterior means and prior".to_string(), 1)
        ]
    );
    assert!(!report.html.contains("Recovery"));
}

/// The page without its figures, which the SVG tests cover.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<!-- figure:") {
        let end = rest[start..].find("<!-- /figure -->").expect("closed") + start;
        out.push_str(&rest[..start]);
        out.push_str("[figure]\n");
        rest = &rest[end + "<!-- /figure -->".len()..];
    }
    out + rest
}

#[test]
fn the_page_holds_every_figure_and_its_text_is_golden() {
    let report = render(&view(true), &Options { rows: 120 }).unwrap();
    for f in &report.figures {
        assert!(
            report.html.contains(&format!("<figure id=\"{}\">", f.name)),
            "{} is on the page",
            f.name
        );
        assert!(report.html.contains(&f.svg), "{} is inline", f.name);
    }
    assert!(!report.html.contains("<script"), "no scripts");
    assert!(!report.html.contains("http://") || !report.html.contains("src=\"http"));
    // Nothing is fetched: no external sources or stylesheets.
    assert!(!report.html.contains("src=") && !report.html.contains("<link"));
    let text = text_of(&report.html);
    let golden = root().join("tests/golden/report.html");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&golden, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&golden).expect("tests/golden/report.html (BLESS=1)");
    assert_eq!(
        text, expected,
        "report text differs from tests/golden/report.html"
    );
}

#[test]
fn large_fits_draw_thinned() {
    let mut v = view(true);
    let rows = 100_000;
    let wave = |(r, c): (usize, usize)| ((r * (c + 3)) as f64 * 0.001).sin();
    v.means = Matrix::from_shape_fn((rows, 2), wave);
    v.sds = Matrix::from_shape_fn((rows, 2), |(_, _)| 0.1);
    v.truth.as_mut().unwrap().values = Matrix::from_shape_fn((rows, 2), wave);
    let started = std::time::Instant::now();
    let report = render(&v, &Options::default()).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let doc = roxmltree::Document::parse(figure(&report, "recovery")).unwrap();
    let points = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .count();
    assert!(
        points <= 2 * (pdgc::report::MAX_SCATTER_POINTS + 1),
        "{points}"
    );
    assert!(report.html.len() < 4_000_000, "{} bytes", report.html.len());
    // Generous for a loaded CI machine; the README quotes the measured time.
    assert!(seconds < 5.0, "{seconds} s");
}

/// `pdgc fit … --truth` on 150 rows of linear data, 30 epochs, into `out`.
fn fit_with_truth(dir: &Path, out: &Path, flags: &[&str]) -> std::process::Output {
    let o = pdgc(&[
        "simulate",
        "linear",
        "--samples",
        "150",
        "--seed",
        "4",
        "-o",
        s(&dir.join("sim")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut args = vec![
        "fit",
        "models/linear.pdg",
        s(&dir.join("sim/data.csv")).to_string().leak(),
        "--truth",
        s(&dir.join("sim/truth.csv")).to_string().leak(),
        "-o",
        s(out).to_string().leak(),
        "--epochs",
        "30",
    ];
    args.extend_from_slice(flags);
    pdgc(&args)
}

#[test]
fn fit_writes_the_report_and_report_draws_it_again() {
    let dir = scratch();
    let out = dir.join("fit");
    let o = fit_with_truth(&dir, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("; MCC 0."), "{err}");
    assert!(
        err.contains(&format!("report: {}", out.join("report.html").display())),
        "{err}"
    );
    for name in ["training", "distributions", "sources", "recovery"] {
        let svg = std::fs::read_to_string(out.join(format!("plots/{name}.svg"))).unwrap();
        assert!(!panels(&svg).is_empty(), "{name}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("MCC 0."));
    assert!(
        html.contains("// PDGMM-VAE for linear mixtures"),
        "the model file as written"
    );
    // The trace records each true source's |corr|, run.ron the final recovery.
    let trace = std::fs::read_to_string(out.join("trace.csv")).unwrap();
    assert!(trace
        .lines()
        .next()
        .unwrap()
        .ends_with(",corr_s0,corr_s1,corr_s2"));
    let run = std::fs::read_to_string(out.join("run.ron")).unwrap();
    assert!(run.contains("mcc: Some(0."), "{run}");

    // Drawn again from the folder: the same page.
    std::fs::remove_dir_all(out.join("plots")).unwrap();
    let o = pdgc(&["report", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), s(&out.join("report.html")));
    assert_eq!(
        std::fs::read_to_string(out.join("report.html")).unwrap(),
        html
    );
    assert!(out.join("plots/recovery.svg").is_file());

    // To a page elsewhere, without the truth's file: drawn without the recovery.
    std::fs::remove_file(dir.join("sim/truth.csv")).unwrap();
    let page = dir.join("elsewhere/page.html");
    let o = pdgc(&["report", s(&out), "-o", s(&page)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is gone; drawing without it"),
        "{}",
        stderr(&o)
    );
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(!text.contains("MCC"));
    assert!(
        !dir.join("elsewhere/plots").exists(),
        "-o writes only the page"
    );
}

#[test]
fn no_plots_writes_no_report() {
    let dir = scratch();
    let out = dir.join("fit");
    let o = fit_with_truth(&dir, &out, &["--no-plots", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("report.html").exists());
    assert!(!out.join("plots").exists());
    assert!(out.join("sources.csv").is_file());
}

#[test]
fn report_refuses_bad_truth_and_replaces_only_its_own_files() {
    let dir = scratch();
    let out = dir.join("fit");
    let o = fit_with_truth(&dir, &out, &["--no-plots", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // A truth of other rows.
    let short = dir.join("short.csv");
    std::fs::write(&short, "s0,s1\n1,2\n3,4\n5,6\n").unwrap();
    let o = pdgc(&["report", s(&out), "--truth", s(&short)]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        format!(
            "error: {}: cannot be compared with the fit's sources: the truth has 3 rows but the estimate has 150\n",
            short.display()
        )
    );
    // fit holds the truth to the data's rows before training.
    let o = pdgc(&[
        "fit",
        "models/linear.pdg",
        s(&dir.join("sim/data.csv")),
        "--truth",
        s(&short),
        "-o",
        s(&dir.join("other")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("has 3 rows, but"), "{}", stderr(&o));

    // A page of the user's is never replaced; nor a plots/ folder holding other files.
    let mine = dir.join("mine.html");
    std::fs::write(&mine, "<p>my notes</p>").unwrap();
    let o = pdgc(&["report", s(&out), "-o", s(&mine)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is not a pdgc report"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "<p>my notes</p>");
    std::fs::create_dir(out.join("plots")).unwrap();
    std::fs::write(out.join("plots/notes.txt"), "keep").unwrap();
    let o = pdgc(&["report", s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("holds more than pdgc's figures"),
        "{}",
        stderr(&o)
    );
    assert!(out.join("plots/notes.txt").is_file());

    // Not a fit folder at all.
    let o = pdgc(&["report", s(&dir.join("sim"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("run.ron"), "{}", stderr(&o));
}

#[test]
fn a_fit_from_before_reports_kept_the_model_text_still_reports() {
    let dir = scratch();
    let out = dir.join("fit");
    let o = fit_with_truth(&dir, &out, &["--no-plots", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // run.ron as the first release wrote it: none of the fields added since.
    let run = std::fs::read_to_string(out.join("run.ron")).unwrap();
    let old: String = run
        .lines()
        .filter(|l| {
            !["model_text:", "truth_file:", "mcc:", "mcc_spearman:"]
                .iter()
                .any(|k| l.trim_start().starts_with(k))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(old, run);
    std::fs::write(out.join("run.ron"), old).unwrap();
    let o = pdgc(&["report", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("did not keep the model file as written"));
    assert!(!html.contains("MCC"));
}

#[test]
fn extreme_values_are_drawn_without_failing() {
    let mut v = view(true);
    let n = v.trace.loss.len();
    v.trace.loss = (0..n)
        .map(|i| [1e308, -1e308, f64::INFINITY, f64::NAN, 0.0][i % 5])
        .collect();
    v.trace.kl = vec![5e-324; n];
    v.trace.posterior_variances[0] = (0..n).map(|i| 10f64.powi(i as i32 * 12 - 300)).collect();
    v.means = v.means.map(|x| x * 1e300);
    v.sds = v.sds.map(|_| f64::MAX);
    v.priors[0] = PriorDensity::Mixture(Mixture {
        weights: vec![0.2, 0.3, 0.5],
        means: vec![-1.0, 0.0, 1.0],
        variances: vec![1e-300, 1e300, f64::MIN_POSITIVE],
    });
    let report = render(&v, &Options::default()).unwrap();
    for f in &report.figures {
        roxmltree::Document::parse(&f.svg).unwrap();
    }
}

#[test]
fn a_shared_prior_is_drawn_once() {
    let mut v = view(false);
    v.spec =
        pdgc::compile("model m\nobserved x[2]\nlatent z[2] ~ shared gmm(K = 3)\ndecoder linear\n")
            .unwrap();
    let report = render(&v, &Options::default()).unwrap();
    let titles: Vec<String> = panels(figure(&report, "training"))
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| t.contains("prior"))
        .collect();
    assert_eq!(
        titles,
        [
            "shared prior weights",
            "shared prior means",
            "shared prior variances"
        ]
    );
}

/// A learned likelihood's noise variances go through the whole pipeline: the trace's
/// `noise_x*` columns, their panel in the report (drawn again identically by `report`),
/// and a fitted-model file that `encode` and `sample` load.
#[test]
fn a_learned_likelihood_is_traced_drawn_and_loaded() {
    let dir = scratch();
    let model = dir.join("learned.pdg");
    let text = std::fs::read_to_string(root().join("models/linear.pdg"))
        .unwrap()
        .replace("beta 0.01", "likelihood gaussian(learned)\nbeta 1");
    std::fs::write(&model, text).unwrap();
    let out = dir.join("fit");
    let o = pdgc(&[
        "fit",
        s(&model),
        "examples/linear/data.csv",
        "-o",
        s(&out),
        "--epochs",
        "30",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let trace = std::fs::read_to_string(out.join("trace.csv")).unwrap();
    let header = trace.lines().next().unwrap();
    assert!(
        header.contains(",sigma2_z2,noise_x0,noise_x1,noise_x2,z0_weight0"),
        "{header}"
    );
    let last: Vec<f64> = trace
        .lines()
        .last()
        .unwrap()
        .split(',')
        .skip(10)
        .take(3)
        .map(|c| c.parse().unwrap())
        .collect();
    assert!(
        last.iter().all(|&v| v > 1e-4 && v < 1.0),
        "σ² falls from 1 as the decoder learns: {last:?}"
    );
    let svg = std::fs::read_to_string(out.join("plots/training.svg")).unwrap();
    assert!(panels(&svg)
        .iter()
        .any(|(title, _)| title == "observation noise σ²"));
    report_redraws_the_same_page(&out);

    let o = pdgc(&["encode", s(&out), "examples/linear/data.csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        std::fs::read_to_string(out.join("sources.csv")).unwrap()
    );
    let o = pdgc(&["sample", s(&out), "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 6);
}

/// `pdgc report` on the fit folder `out` writes the page `fit` wrote; the page.
/// The titles of the training figure's prior panels in a fit's folder.
fn prior_panel_titles(out: &Path) -> Vec<String> {
    let svg = std::fs::read_to_string(out.join("plots/training.svg")).unwrap();
    panels(&svg)
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| t.contains("prior"))
        .collect()
}

/// The z0 column of `pdgc sample`'s output for a model of three observed columns.
fn sampled_z0(o: &std::process::Output) -> Vec<f64> {
    stdout(o)
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
        .collect()
}

fn report_redraws_the_same_page(out: &Path) -> String {
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let o = pdgc(&["report", s(out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("report.html")).unwrap(),
        html
    );
    html
}

/// Laplace and Student-t priors beside a mixture go through the whole pipeline: their
/// trace columns, their panels and table rows in the report (drawn again identically by
/// `report`), `priors.ron`, and `sample` drawing from them.
#[test]
fn laplace_and_student_t_priors_are_traced_drawn_and_sampled() {
    let dir = scratch();
    let model = dir.join("families.pdg");
    let text = "model families\nobserved x[3]\nlatent z[3]\nz[0] ~ laplace\nz[1] ~ gmm(K = 2)\nz[2] ~ student_t\nencoder { dense 16 tanh }\ndecoder linear\nbeta 0.1\ntrain { epochs 40 }\n";
    std::fs::write(&model, text).unwrap();
    let out = dir.join("fit");
    let o = pdgc(&["fit", s(&model), "examples/linear/data.csv", "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let trace = std::fs::read_to_string(out.join("trace.csv")).unwrap();
    assert!(
        trace.lines().next().unwrap().ends_with(
            ",z0_loc,z0_scale,z1_weight0,z1_mean0,z1_var0,z1_weight1,z1_mean1,z1_var1,z2_loc,z2_scale,z2_dof"
        ),
        "{trace}"
    );
    let priors = std::fs::read_to_string(out.join("priors.ron")).unwrap();
    assert!(priors.contains("dof: Some("), "{priors}");

    let titles = prior_panel_titles(&out);
    for expected in [
        "z0 prior location",
        "z0 prior scale",
        "z1 prior weights",
        "z2 prior degrees of freedom",
    ] {
        assert!(
            titles.iter().any(|t| t == expected),
            "{expected}: {titles:?}"
        );
    }
    let html = report_redraws_the_same_page(&out);
    assert!(html.contains("<td>laplace (scale "), "{html}");
    assert!(html.contains("<td>student_t (scale "), "{html}");

    let o = pdgc(&["sample", s(&out), "2000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let z0 = sampled_z0(&o);
    // Laplace draws: |z − median| has mean b, so the mean absolute deviation matches the
    // fitted scale.
    let ron = priors.split("dimension: \"z0\"").nth(1).unwrap();
    let field = |name: &str| -> f64 {
        let after = ron.split(&format!("{name}: Some(")).nth(1).unwrap();
        after.split(')').next().unwrap().parse().unwrap()
    };
    let (location, scale) = (field("location"), field("scale"));
    let mad = z0.iter().map(|z| (z - location).abs()).sum::<f64>() / z0.len() as f64;
    assert!(
        (mad / scale - 1.0).abs() < 0.1,
        "mean |z − m| {mad} vs scale {scale}"
    );
}

/// A fixed and a learned logistic prior beside a mixture go through the whole pipeline:
/// the fixed one's trace columns and `priors.ron` entry are exactly the file's (0, 1) after
/// training, only the learned one gets panels, both get table rows, and `sample` draws
/// Logistic(0, 1) for the fixed one (E|z| = 2 ln 2).
#[test]
fn fixed_and_learned_logistic_priors_are_traced_drawn_and_sampled() {
    let dir = scratch();
    let model = dir.join("logistic.pdg");
    let text = "model sigmoid\nobserved x[3]\nlatent z[3]\nz[0] ~ logistic(0, 1)\nz[1] ~ logistic\nz[2] ~ gmm(K = 2)\nencoder { dense 16 tanh }\ndecoder linear\nbeta 0.1\ntrain { epochs 40 }\n";
    std::fs::write(&model, text).unwrap();
    let out = dir.join("fit");
    let o = pdgc(&["fit", s(&model), "examples/linear/data.csv", "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let trace = std::fs::read_to_string(out.join("trace.csv")).unwrap();
    let header: Vec<&str> = trace.lines().next().unwrap().split(',').collect();
    let tail = &header[header.len() - 10..];
    assert_eq!(
        tail,
        [
            "z0_loc",
            "z0_scale",
            "z1_loc",
            "z1_scale",
            "z2_weight0",
            "z2_mean0",
            "z2_var0",
            "z2_weight1",
            "z2_mean1",
            "z2_var1"
        ],
        "{trace}"
    );
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (loc, scale, learned) = (column("z0_loc"), column("z0_scale"), column("z1_loc"));
    let rows: Vec<Vec<&str>> = trace
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .filter(|r: &Vec<&str>| !r[loc].is_empty())
        .collect();
    assert!(rows.len() >= 2, "{trace}");
    for r in &rows {
        assert_eq!(
            (r[loc], r[scale]),
            ("0", "1"),
            "the fixed prior moved: {trace}"
        );
    }
    assert_ne!(rows[0][learned], rows[rows.len() - 1][learned], "{trace}");

    let priors = std::fs::read_to_string(out.join("priors.ron")).unwrap();
    let z0 = priors.split("dimension: \"z1\"").next().unwrap();
    assert!(
        z0.contains("location: Some(0.0)") && z0.contains("scale: Some(1.0)"),
        "{priors}"
    );

    let titles = prior_panel_titles(&out);
    assert!(titles.iter().all(|t| !t.starts_with("z0 ")), "{titles:?}");
    for expected in ["z1 prior location", "z1 prior scale", "z2 prior weights"] {
        assert!(
            titles.iter().any(|t| t == expected),
            "{expected}: {titles:?}"
        );
    }
    let html = report_redraws_the_same_page(&out);
    assert!(html.contains("<td>logistic(0.0, 1.0) (scale 1"), "{html}");
    assert!(html.contains("<td>logistic (scale "), "{html}");

    let o = pdgc(&["sample", s(&out), "4000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let z0 = sampled_z0(&o);
    let mean_abs = z0.iter().map(|z| z.abs()).sum::<f64>() / z0.len() as f64;
    let expected = 2.0 * std::f64::consts::LN_2;
    assert!(
        (mean_abs / expected - 1.0).abs() < 0.1,
        "mean |z| {mean_abs} vs {expected}"
    );
}
