//! A fit as pictures: the paper's figures (§4, Figs 2–11) as SVG, and one self-contained
//! HTML page holding them with the model, the settings, the final terms, the recovery
//! and the fitted priors. Numbers in, text out: the binary reads a fit's folder into a
//! [`FitView`] and writes what [`render`] returns.

mod figures;
mod html;

use crate::eval::{recovery, Recovery};
use crate::matrix::Matrix;
use crate::numeric::{mean_and_sd, PriorDensity};
use crate::spec::ModelSpec;
use crate::trace::Trace;
use figures::{colour, Grid, Line, Track, GREY};

pub use figures::{MAX_LINE_POINTS, MAX_SCATTER_POINTS};

/// What marks a page as pdgc's own report, which a later report may replace.
pub const GENERATOR: &str = "<meta name=\"generator\" content=\"pdgc\">";

/// Figures draw at most this many latent dimensions (and prior components per dimension);
/// the report says so when a model has more.
pub const MAX_DRAWN: usize = 16;

/// Everything a report shows, read from a fit's outputs.
#[derive(Debug, Clone)]
pub struct FitView {
    pub spec: ModelSpec,
    /// The model file as written; a fit made before pdgc kept it shows the normalised model.
    pub model_text: Option<String>,
    /// The resolved settings and facts of the run, as (name, value) rows.
    pub settings: Vec<(String, String)>,
    pub trace: Trace,
    /// Posterior means and standard deviations, rows × latent dimensions.
    pub means: Matrix,
    pub sds: Matrix,
    /// Each dimension's fitted prior and mean posterior variance.
    pub priors: Vec<PriorDensity>,
    pub posterior_variances: Vec<f64>,
    pub truth: Option<Truth>,
}

/// The true sources of the fitted rows.
#[derive(Debug, Clone)]
pub struct Truth {
    pub file: String,
    pub columns: Vec<String>,
    pub values: Matrix,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How many of the first rows the sources figure shows.
    pub rows: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options { rows: 300 }
    }
}

/// One figure: its file name in `plots/` (without `.svg`), a caption, the SVG text.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: &'static str,
    pub caption: String,
    pub svg: String,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub figures: Vec<Figure>,
    pub html: String,
    pub recovery: Option<Recovery>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{file}: {why}")]
    Truth { file: String, why: String },
    #[error("drawing the {figure} figure failed: {why}")]
    Draw { figure: &'static str, why: String },
}

/// Draws every figure and the page.
pub fn render(view: &FitView, options: &Options) -> Result<Report, ReportError> {
    let recovery = match &view.truth {
        None => None,
        Some(truth) => {
            Some(
                recovery(&truth.values, &view.means).map_err(|why| ReportError::Truth {
                    file: truth.file.clone(),
                    why: format!("cannot be compared with the fit's sources: {why}"),
                })?,
            )
        }
    };
    let matched = view
        .truth
        .as_ref()
        .zip(recovery.as_ref())
        .map(|(t, r)| Matched::new(t, r, &view.means, &view.sds));
    let draw = |name: &'static str, result: Result<String, Box<dyn std::error::Error>>| {
        result.map_err(|e| ReportError::Draw {
            figure: name,
            why: e.to_string(),
        })
    };
    let mut figures = vec![
        Figure {
            name: "training",
            caption: {
                let what = match view.spec.is_invertible() {
                    true => "the loss (the data's exact negative log-likelihood per value)",
                    false => "the objective's terms, each dimension's posterior variance",
                };
                let caption = format!("Training: {what}, and each learnable prior's parameters over the epochs: a mixture's weights, means and variances, a Laplace's or a logistic's location and scale, a Student-t's location, scale and degrees of freedom (paper Figs 2, 7).");
                match view.spec.postprocess {
                    crate::spec::Postprocess::None => caption,
                    crate::spec::Postprocess::Fastica => format!("{caption} With `postprocess fastica`, the |corr| with the truth during training is of the posterior means, before it."),
                }
            },
            svg: draw("training", training(view))?,
        },
        Figure {
            name: "distributions",
            caption: {
                let caption = match &matched {
                    None => "Each source's distribution: histogram of the posterior means, the fitted prior on top, each component dashed with its weight (paper Figs 4–6, 9–11).".to_string(),
                    Some(_) => "Each source's distribution: histogram of the posterior means with the fitted prior and its components dashed (left), the matched true source's histogram (right) (paper Figs 4–6, 9–11).".to_string(),
                };
                match view.spec.postprocess {
                    crate::spec::Postprocess::None => caption,
                    // The priors belong to the latents; the histograms to the sources.
                    crate::spec::Postprocess::Fastica => format!("{caption} With `postprocess fastica` (when it ran: see the settings) the histograms are of the sources after FastICA's unmixing, and the priors are the latents' before it: they need not match."),
                }
            },
            svg: draw("distributions", distributions(view, matched.as_ref()))?,
        },
        Figure {
            name: "sources",
            caption: match &matched {
                None => format!("The first {} rows of each posterior mean with a ±2 sd band (paper Figs 3, 8).", options.rows.min(view.means.nrows())),
                Some(_) => format!("The first {} rows of each true source (black) and its matched posterior mean with a ±2 sd band, both z-scored, the estimate's sign matched (paper Figs 3, 8).", options.rows.min(view.means.nrows())),
            },
            svg: draw("sources", sources(view, matched.as_ref(), options.rows))?,
        },
    ];
    if let Some(m) = &matched {
        figures.push(Figure {
            name: "recovery",
            caption: format!(
                "True against recovered values of each matched source, both z-scored (at most {MAX_SCATTER_POINTS} rows drawn, evenly spaced)."
            ),
            svg: draw("recovery", scatter(view, m))?,
        });
    }
    let html = html::page(view, &figures, recovery.as_ref());
    Ok(Report {
        figures,
        html,
        recovery,
    })
}

/// The truth next to its matched estimates, both z-scored, the estimate's sign turned to
/// correlate positively: what `eval` matched, as the figures show it.
struct Matched {
    /// Per true source: name, the estimate's dimension, |corr|, truth, estimate, sd.
    pairs: Vec<Pair>,
}

struct Pair {
    truth_name: String,
    dimension: usize,
    corr: f64,
    truth: Vec<f64>,
    estimate: Vec<f64>,
    sd: Vec<f64>,
}

fn z_scored(x: &[f64]) -> (Vec<f64>, f64) {
    let (mean, sd) = mean_and_sd(x);
    let sd = if sd > 0.0 { sd } else { 1.0 };
    (x.iter().map(|v| (v - mean) / sd).collect(), sd)
}

impl Matched {
    fn new(truth: &Truth, rec: &Recovery, means: &Matrix, sds: &Matrix) -> Matched {
        let pairs = rec
            .matching
            .iter()
            .enumerate()
            // A fit estimates at least as many sources as the truth has (checked before
            // training), so every true source has a match.
            .filter_map(|(i, j)| j.map(|j| (i, j)))
            .map(|(i, j)| {
                let (t, _) = z_scored(&truth.values.column(i).to_vec());
                let (mut e, scale) = z_scored(&means.column(j).to_vec());
                let sign = if crate::eval::pearson(&t, &e) < 0.0 {
                    -1.0
                } else {
                    1.0
                };
                e.iter_mut().for_each(|v| *v *= sign);
                Pair {
                    truth_name: truth.columns[i].clone(),
                    dimension: j,
                    corr: rec.per_source[i],
                    truth: t,
                    estimate: e,
                    sd: sds.column(j).to_vec().iter().map(|s| s / scale).collect(),
                }
            })
            .collect();
        Matched { pairs }
    }
}

type Svg = Result<String, Box<dyn std::error::Error>>;

/// The objective's terms a report shows, each with its title: a VAE's loss and its two
/// terms, or the exact likelihood's loss alone (it has no reconstruction, and its "KL"
/// column is the loss itself).
fn terms<'t>(spec: &ModelSpec, trace: &'t Trace) -> Vec<(&'static str, &'t [f64])> {
    let loss = match (spec.is_invertible(), &spec.likelihood) {
        (true, _) => "loss: −log p(x)/Tm, exact",
        (false, crate::spec::Likelihood::SquaredError) => "loss (eq. 39)",
        (false, _) => "loss (Gaussian likelihood, eq. 26)",
    };
    let mut terms = vec![(loss, trace.loss.as_slice())];
    if !spec.is_invertible() {
        terms.push(("reconstruction", &trace.reconstruction));
        terms.push(("KL term (log q − log p)/Tm", &trace.kl));
    }
    terms
}

fn training(view: &FitView) -> Svg {
    let trace = &view.trace;
    let z = &view.spec.latent.name;
    let epochs: Vec<f64> = trace.epochs.iter().map(|&e| e as f64).collect();
    let mut grid = Grid::new(3, (380, 250));
    for (title, values) in terms(&view.spec, trace) {
        grid.panel(title, |area| {
            figures::lines(
                area,
                title,
                "epoch",
                &[Line {
                    label: title.into(),
                    x: &epochs,
                    y: values,
                    colour: colour(0),
                    dashed: false,
                }],
            )
        })?;
    }
    let drawn = view.spec.n().min(MAX_DRAWN);
    let variances: Vec<Line> = (0..drawn)
        .map(|j| Line {
            label: format!("{z}{j}"),
            x: &epochs,
            y: &trace.posterior_variances[j],
            colour: colour(j),
            dashed: false,
        })
        .collect();
    // An invertible encoder's sources are a function of the data: no variance to show.
    if !view.spec.is_invertible() {
        grid.panel("posterior variance σ²", |area| {
            figures::lines(area, "posterior variance σ²", "epoch", &variances)
        })?;
    }
    // The likelihood's learned noise variances.
    if !trace.noise_variances.is_empty() {
        let names = crate::trace::noise_columns(&view.spec);
        let lines: Vec<Line> = trace
            .noise_variances
            .iter()
            .zip(&names)
            .take(MAX_DRAWN)
            .enumerate()
            .map(|(i, (y, name))| Line {
                label: name.trim_start_matches("noise_").to_string(),
                x: &epochs,
                y,
                colour: colour(i),
                dashed: false,
            })
            .collect();
        grid.panel("observation noise σ²", |area| {
            figures::lines(area, "observation noise σ²", "epoch", &lines)
        })?;
    }
    // β, when a warm-up made it change.
    if trace.beta.windows(2).any(|w| w[0] != w[1]) {
        let line = [Line {
            label: "β".into(),
            x: &epochs,
            y: &trace.beta,
            colour: colour(0),
            dashed: false,
        }];
        grid.panel("β in force (warm-up)", |area| {
            figures::lines(area, "β in force (warm-up)", "epoch", &line)
        })?;
    }
    if !trace.recovery.is_empty() {
        let at: Vec<f64> = trace.recovery.iter().map(|(e, _)| *e as f64).collect();
        let per_source: Vec<Vec<f64>> = (0..trace.truth_names.len())
            .map(|i| trace.recovery.iter().map(|(_, c)| c[i]).collect())
            .collect();
        let lines: Vec<Line> = per_source
            .iter()
            .enumerate()
            .take(MAX_DRAWN)
            .map(|(i, y)| Line {
                label: trace.truth_names[i].clone(),
                x: &at,
                y,
                colour: colour(i),
                dashed: false,
            })
            .collect();
        grid.panel("|corr| with the truth", |area| {
            figures::lines(area, "|corr| with the truth", "epoch", &lines)
        })?;
    }
    // Each learnable prior over the epochs where it was recorded.
    let at: Vec<f64> = trace.priors.iter().map(|(e, _)| *e as f64).collect();
    // A shared prior is one set of parameters: drawn once.
    let shared = matches!(view.spec.prior, crate::spec::Prior::Shared(_));
    let dimensions = if shared { 0..drawn.min(1) } else { 0..drawn };
    for j in dimensions.filter(|&j| view.spec.prior.family(j).is_learnable()) {
        grid.next_row();
        // Each kind of number (a mixture's weights, means, variances; a Laplace's
        // location and scale; …) is a panel, with a line per component.
        let recorded: Vec<_> = trace.priors.iter().map(|(_, p)| p[j].series()).collect();
        let Some(first) = recorded.first() else {
            continue;
        };
        for (panel, (what, values)) in first.iter().enumerate() {
            let series: Vec<Vec<f64>> = (0..values.len().min(MAX_DRAWN))
                .map(|k| recorded.iter().map(|r| r[panel].1[k]).collect())
                .collect();
            let lines: Vec<Line> = series
                .iter()
                .enumerate()
                .map(|(k, y)| Line {
                    label: match values.len() {
                        1 => what.to_string(),
                        _ => format!("k = {k}"),
                    },
                    x: &at,
                    y,
                    colour: colour(k),
                    dashed: false,
                })
                .collect();
            let title = match shared {
                true => format!("shared prior {what}"),
                false => format!("{z}{j} prior {what}"),
            };
            grid.panel(&title, |area| figures::lines(area, &title, "epoch", &lines))?;
        }
    }
    Ok(grid.finish())
}

fn distributions(view: &FitView, matched: Option<&Matched>) -> Svg {
    let z = &view.spec.latent.name;
    let size = (380, 260);
    let estimate = |grid: &mut Grid, j: usize| {
        let title = format!("{z}{j}: posterior means and prior");
        grid.panel(&title, |area| {
            figures::distribution(
                area,
                &title,
                &view.means.column(j).to_vec(),
                colour(j),
                Some(&view.priors[j]),
            )
        })
    };
    match matched {
        None => {
            let mut grid = Grid::new(3, size);
            for j in 0..view.spec.n().min(MAX_DRAWN) {
                estimate(&mut grid, j)?;
            }
            Ok(grid.finish())
        }
        Some(m) => {
            let mut grid = Grid::new(2, size);
            let truth = view.truth.as_ref().expect("matched with a truth");
            for (i, pair) in m.pairs.iter().enumerate().take(MAX_DRAWN) {
                estimate(&mut grid, pair.dimension)?;
                let title = format!("{}: true source", pair.truth_name);
                let values = truth.values.column(i).to_vec();
                grid.panel(&title, |area| {
                    figures::distribution(area, &title, &values, GREY, None)
                })?;
            }
            Ok(grid.finish())
        }
    }
}

fn sources(view: &FitView, matched: Option<&Matched>, rows: usize) -> Svg {
    let z = &view.spec.latent.name;
    let rows = rows.min(view.means.nrows()).max(1);
    let mut grid = Grid::new(1, (1000, 190));
    match matched {
        None => {
            for j in 0..view.spec.n().min(MAX_DRAWN) {
                let (estimate, sd) = (view.means.column(j).to_vec(), view.sds.column(j).to_vec());
                let title = format!("{z}{j}");
                let track = Track {
                    estimate: &estimate[..rows],
                    sd: &sd[..rows],
                    truth: None,
                    colour: colour(j),
                };
                grid.panel(&title, |area| figures::track(area, &title, &track))?;
            }
        }
        Some(m) => {
            for pair in m.pairs.iter().take(MAX_DRAWN) {
                let title = format!(
                    "{} and {z}{} (|corr| {:.3})",
                    pair.truth_name, pair.dimension, pair.corr
                );
                let track = Track {
                    estimate: &pair.estimate[..rows],
                    sd: &pair.sd[..rows],
                    truth: Some(&pair.truth[..rows]),
                    colour: colour(pair.dimension),
                };
                grid.panel(&title, |area| figures::track(area, &title, &track))?;
            }
        }
    }
    Ok(grid.finish())
}

fn scatter(view: &FitView, m: &Matched) -> Svg {
    let z = &view.spec.latent.name;
    let mut grid = Grid::new(3, (330, 330));
    for pair in m.pairs.iter().take(MAX_DRAWN) {
        let title = format!(
            "{} vs {z}{}: |corr| {:.3}",
            pair.truth_name, pair.dimension, pair.corr
        );
        grid.panel(&title, |area| {
            figures::scatter(
                area,
                &title,
                &pair.truth,
                &pair.estimate,
                colour(pair.dimension),
            )
        })?;
    }
    Ok(grid.finish())
}

/// A box plot of each group's values (MCC per method, over seeds): one SVG document.
pub fn box_plot(
    title: &str,
    y_label: &str,
    groups: &[(String, Vec<f64>)],
) -> Result<String, ReportError> {
    let width = (160 * groups.len() as u32).clamp(480, 1600);
    let mut grid = Grid::new(1, (width, 420));
    grid.panel(title, |area| figures::boxes(area, title, y_label, groups))
        .map_err(|e| ReportError::Draw {
            figure: "box plot",
            why: e.to_string(),
        })?;
    Ok(grid.finish())
}

/// Text made safe inside HTML and SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
