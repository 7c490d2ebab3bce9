//! The report's figures, drawn with plotters' SVG backend (text is left to the viewer's
//! fonts, so nothing here needs a font file).
//!
//! A figure is a grid of panels. Each panel is drawn by plotters as its own SVG and nested
//! in the figure's at its place, with a `<title>` naming it: a reader (and a test) finds
//! the panels as the figure's nested `<svg class="panel">` elements. In every panel the
//! data series are the only lines drawn two pixels wide, each in its own colour; axes, grid
//! and histogram bars are drawn otherwise.

use crate::numeric::{normal_log_density, PriorDensity};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// Lines longer than this are thinned (every k-th point, the last one kept): a picture
/// is a few hundred pixels wide, and the SVG stays small for any T or number of epochs.
pub const MAX_LINE_POINTS: usize = 1500;
/// Scatter plots show at most this many points, evenly spaced over the rows.
pub const MAX_SCATTER_POINTS: usize = 2000;

const SERIES_WIDTH: u32 = 2;
const FONT: &str = "sans-serif";

/// Tableau's ten colours: distinct and readable on white.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The truth's histograms.
pub const GREY: RGBColor = RGBColor(90, 90, 90);

pub fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// What a panel's axes say: label counts, formats and descriptions.
struct Axes<'f> {
    x_labels: usize,
    y_labels: usize,
    x_format: &'f dyn Fn(&f64) -> String,
    y_format: &'f dyn Fn(&f64) -> String,
    x_desc: &'f str,
    y_desc: &'f str,
}

impl Default for Axes<'_> {
    fn default() -> Self {
        Axes {
            x_labels: 5,
            y_labels: 5,
            x_format: &plain_label,
            y_format: &plain_label,
            x_desc: "",
            y_desc: "",
        }
    }
}

/// The axes every panel shares: light grey grid lines at the labels, small text.
fn draw_axes(chart: &mut Chart, axes: Axes) -> Drawn {
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .x_labels(axes.x_labels)
        .y_labels(axes.y_labels)
        .x_label_formatter(axes.x_format)
        .y_label_formatter(axes.y_format)
        .x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .label_style((FONT, 11))
        .draw()?;
    Ok(())
}

/// One data series: a line two pixels wide in its colour (dashed if asked), labelled for
/// the legend.
fn draw_line<'a>(
    chart: &mut Chart<'a, 'a>,
    points: Vec<(f64, f64)>,
    colour: RGBColor,
    dashed: bool,
    label: &str,
) -> Drawn {
    let style = colour.stroke_width(SERIES_WIDTH);
    let drawn = if dashed {
        chart.draw_series(DashedLineSeries::new(points, 5, 4, style))?
    } else {
        chart.draw_series(LineSeries::new(points, style))?
    };
    drawn
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
    Ok(())
}

/// The legend of the labelled series, top right.
fn draw_legend<'a>(chart: &mut Chart<'a, 'a>) -> Drawn {
    chart
        .configure_series_labels()
        .label_font((FONT, 11))
        .background_style(WHITE.mix(0.8))
        .border_style(RGBColor(200, 200, 200))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    Ok(())
}

/// A figure under construction: panels of one size, laid out in rows of `columns`.
pub struct Grid {
    columns: usize,
    size: (u32, u32),
    panels: Vec<String>,
    /// The slot the next panel takes (slots may be left empty to start a row).
    slot: usize,
}

impl Grid {
    pub fn new(columns: usize, size: (u32, u32)) -> Grid {
        Grid {
            columns,
            size,
            panels: Vec::new(),
            slot: 0,
        }
    }

    /// The next panel starts a new row.
    pub fn next_row(&mut self) {
        self.slot = self.slot.div_ceil(self.columns) * self.columns;
    }

    /// Draws one panel with `draw` and places it after the others.
    pub fn panel(
        &mut self,
        title: &str,
        draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Drawn,
    ) -> Drawn {
        let mut svg = String::new();
        {
            let area = SVGBackend::with_string(&mut svg, self.size).into_drawing_area();
            area.fill(&WHITE)?;
            draw(&area)?;
            area.present()?;
        }
        let i = self.slot;
        self.slot += 1;
        let (x, y) = (
            (i % self.columns) as u32 * self.size.0,
            (i / self.columns) as u32 * self.size.1,
        );
        let start = svg.find("<svg").ok_or("plotters wrote no <svg> element")?;
        let open_end = svg[start..].find('>').ok_or("an unclosed <svg> tag")? + start;
        self.panels.push(format!(
            "<svg x=\"{x}\" y=\"{y}\" class=\"panel\"{}><title>{}</title>{}",
            &svg[start + 4..open_end],
            super::escape(title),
            &svg[open_end + 1..]
        ));
        Ok(())
    }

    /// The figure: one SVG document holding every panel.
    pub fn finish(self) -> String {
        let rows = self.slot.div_ceil(self.columns).max(1) as u32;
        let columns = self.columns.min(self.slot).max(1) as u32;
        let (w, h) = (columns * self.size.0, rows * self.size.1);
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n"
        );
        for panel in self.panels {
            svg += &panel;
            svg.push('\n');
        }
        svg + "</svg>\n"
    }
}

/// One line of a line panel.
pub struct Line<'a> {
    pub label: String,
    pub x: &'a [f64],
    pub y: &'a [f64],
    pub colour: RGBColor,
    pub dashed: bool,
}

/// Every `k`-th index of `0..n` (and the last), at most about `max` of them.
pub fn thinned(n: usize, max: usize) -> impl Iterator<Item = usize> {
    let step = n.div_ceil(max.max(1)).max(1);
    (0..n)
        .step_by(step)
        .chain((n > 0 && !(n - 1).is_multiple_of(step)).then(|| n - 1))
}

/// Values beyond this magnitude are drawn at it: plotters' axis ticks need a finite span.
const LARGEST_DRAWN: f64 = 1e300;

/// The range an axis shows for `values`: their finite range (clamped to ±`LARGEST_DRAWN`)
/// with a margin, widened when it is a single point (or too narrow to label).
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .map(|v| v.clamp(-LARGEST_DRAWN, LARGEST_DRAWN))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return (0.0, 1.0);
    }
    let (span, scale) = (hi - lo, lo.abs().max(hi.abs()));
    if span <= 1e-9 * scale || span < 1e-200 {
        let pad = if scale < 1e-200 { 1.0 } else { 0.1 * scale };
        return (lo - pad, hi + pad);
    }
    let pad = 0.04 * span;
    (lo - pad, hi + pad)
}

/// The finite points, each clamped into the drawn frame: plotters maps a point to pixels
/// in integers, and one far outside the frame (beyond `LARGEST_DRAWN`) would overflow them.
fn inside(
    points: impl Iterator<Item = (f64, f64)>,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Vec<(f64, f64)> {
    points
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (x.clamp(x0, x1), y.clamp(y0, y1)))
        .collect()
}

/// A log scale is used where every value is positive and they span more than two decades.
fn wants_log(lines: &[Line]) -> bool {
    let values = || {
        lines
            .iter()
            .flat_map(|l| l.y.iter().copied())
            .filter(|v| v.is_finite())
    };
    let (lo, hi) = values().fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    values().all(|v| v > 0.0) && lo.is_finite() && hi / lo > 100.0
}

fn log_label(v: &f64) -> String {
    format!("{:.0e}", 10f64.powf(*v))
}

fn plain_label(v: &f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".into()
        } else {
            s.to_string()
        }
    }
}

/// A panel of lines against a shared x; log-scaled in y where the values span decades.
/// A legend is drawn when there are several lines, up to ten.
pub fn lines(
    area: &DrawingArea<SVGBackend, Shift>,
    title: &str,
    x_label: &str,
    lines: &[Line],
) -> Drawn {
    let log = wants_log(lines);
    let map = |v: f64| if log { v.log10() } else { v };
    let (x0, x1) = range(lines.iter().flat_map(|l| l.x.iter().copied()));
    let (y0, y1) = range(lines.iter().flat_map(|l| l.y.iter().map(|&v| map(v))));
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 15))
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let y_format: &dyn Fn(&f64) -> String = if log { &log_label } else { &plain_label };
    let axes = Axes {
        y_format,
        x_desc: x_label,
        ..Axes::default()
    };
    draw_axes(&mut chart, axes)?;
    for line in lines {
        let points = inside(
            thinned(line.x.len().min(line.y.len()), MAX_LINE_POINTS)
                .map(|i| (line.x[i], map(line.y[i]))),
            (x0, x1),
            (y0, y1),
        );
        draw_line(&mut chart, points, line.colour, line.dashed, &line.label)?;
    }
    if (2..=10).contains(&lines.len()) {
        draw_legend(&mut chart)?;
    }
    Ok(())
}

/// A histogram's bins: edges and densities (integrating to one).
pub struct Histogram {
    pub edges: Vec<f64>,
    pub density: Vec<f64>,
}

impl Histogram {
    /// √T bins, between 10 and 60, over the values' finite range.
    pub fn of(values: &[f64]) -> Histogram {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let bins = ((finite.len() as f64).sqrt() as usize).clamp(10, 60);
        let (lo, hi) = range(finite.iter().copied());
        let width = (hi - lo) / bins as f64;
        let mut counts = vec![0usize; bins];
        for v in &finite {
            let b = (((v - lo) / width) as usize).min(bins - 1);
            counts[b] += 1;
        }
        let total = finite.len().max(1) as f64;
        Histogram {
            edges: (0..=bins).map(|b| lo + b as f64 * width).collect(),
            density: counts.iter().map(|&c| c as f64 / (total * width)).collect(),
        }
    }
}

/// A histogram, and optionally a fitted prior's density over it (solid, black); a
/// mixture's components' weighted densities dashed, each in its own colour.
pub fn distribution(
    area: &DrawingArea<SVGBackend, Shift>,
    title: &str,
    values: &[f64],
    bar: RGBColor,
    prior: Option<&PriorDensity>,
) -> Drawn {
    let hist = Histogram::of(values);
    let (x0, x1) = (hist.edges[0], *hist.edges.last().expect("bins"));
    let grid: Vec<f64> = (0..=200)
        .map(|i| x0 + (x1 - x0) * i as f64 / 200.0)
        .collect();
    let curves: Vec<(String, Vec<f64>, RGBColor, bool)> = match prior {
        None => Vec::new(),
        Some(p) => {
            let total = grid.iter().map(|&z| p.log_density(z).exp()).collect();
            let mut curves = vec![("prior".to_string(), total, BLACK, false)];
            if let Some(m) = p.as_mixture().filter(|m| m.weights.len() > 1) {
                curves.extend((0..m.weights.len().min(10)).map(|k| {
                    let density = grid
                        .iter()
                        .map(|&z| {
                            m.weights[k] * normal_log_density(z, m.means[k], m.variances[k]).exp()
                        })
                        .collect();
                    (
                        format!("π{k} = {:.2}", m.weights[k]),
                        density,
                        colour(k),
                        true,
                    )
                }));
            }
            curves
        }
    };
    let top = hist
        .density
        .iter()
        .chain(curves.iter().flat_map(|c| c.1.iter()))
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let top = if top > 0.0 { top * 1.08 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 15))
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(x0..x1, 0.0..top)?;
    let axes = Axes {
        y_labels: 4,
        y_desc: "density",
        ..Axes::default()
    };
    draw_axes(&mut chart, axes)?;
    chart.draw_series(hist.density.iter().enumerate().map(|(b, &d)| {
        Rectangle::new(
            [(hist.edges[b], 0.0), (hist.edges[b + 1], d)],
            bar.mix(0.45).filled(),
        )
    }))?;
    for (label, density, c, dashed) in &curves {
        let points = inside(
            grid.iter().zip(density).map(|(&x, &y)| (x, y)),
            (x0, x1),
            (0.0, top),
        );
        draw_line(&mut chart, points, *c, *dashed, label)?;
    }
    if !curves.is_empty() {
        draw_legend(&mut chart)?;
    }
    Ok(())
}

/// One source over the rows: its estimate with a ±2 sd band, and the truth when known.
pub struct Track<'a> {
    pub estimate: &'a [f64],
    pub sd: &'a [f64],
    pub truth: Option<&'a [f64]>,
    pub colour: RGBColor,
}

/// The first rows of a source: the estimate as a line in a shaded ±2 sd band, the truth
/// (if any) as a black line.
pub fn track(area: &DrawingArea<SVGBackend, Shift>, title: &str, t: &Track) -> Drawn {
    let rows = t.estimate.len();
    let x: Vec<f64> = (0..rows).map(|i| i as f64).collect();
    let lower: Vec<f64> = (0..rows).map(|i| t.estimate[i] - 2.0 * t.sd[i]).collect();
    let upper: Vec<f64> = (0..rows).map(|i| t.estimate[i] + 2.0 * t.sd[i]).collect();
    let (y0, y1) = range(
        lower
            .iter()
            .chain(&upper)
            .chain(t.truth.unwrap_or(&[]))
            .copied(),
    );
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 15))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..(rows.max(2) - 1) as f64, y0..y1)?;
    let frame = ((0.0, (rows.max(2) - 1) as f64), (y0, y1));
    let axes = Axes {
        x_labels: 8,
        y_labels: 4,
        x_desc: "row",
        ..Axes::default()
    };
    draw_axes(&mut chart, axes)?;
    let band = inside(
        x.iter()
            .zip(&upper)
            .map(|(&x, &y)| (x, y))
            .chain(x.iter().zip(&lower).rev().map(|(&x, &y)| (x, y))),
        frame.0,
        frame.1,
    );
    chart.draw_series(std::iter::once(Polygon::new(
        band,
        t.colour.mix(0.2).filled(),
    )))?;
    // The truth first, so that the estimate is drawn over it and stays visible where the
    // two agree.
    let mut named = Vec::new();
    if let Some(truth) = t.truth {
        named.push(("truth", truth, BLACK));
    }
    named.push(("estimate ± 2 sd", t.estimate, t.colour));
    for (label, values, c) in named {
        let points = inside(
            x.iter().zip(values).map(|(&x, &y)| (x, y)),
            frame.0,
            frame.1,
        );
        draw_line(&mut chart, points, c, false, label)?;
    }
    if t.truth.is_some() {
        draw_legend(&mut chart)?;
    }
    Ok(())
}

/// True against recovered values, at most `MAX_SCATTER_POINTS` of them, with the diagonal.
pub fn scatter(
    area: &DrawingArea<SVGBackend, Shift>,
    title: &str,
    x: &[f64],
    y: &[f64],
    c: RGBColor,
) -> Drawn {
    let (lo, hi) = range(x.iter().chain(y).copied());
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 15))
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(lo..hi, lo..hi)?;
    let axes = Axes {
        x_desc: "true (z-scored)",
        y_desc: "recovered (z-scored)",
        ..Axes::default()
    };
    draw_axes(&mut chart, axes)?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(lo, lo), (hi, hi)],
        RGBColor(160, 160, 160).stroke_width(1),
    )))?;
    let points = inside(
        thinned(x.len().min(y.len()), MAX_SCATTER_POINTS).map(|i| (x[i], y[i])),
        (lo, hi),
        (lo, hi),
    );
    chart.draw_series(
        points
            .into_iter()
            .map(|p| Circle::new(p, 2, c.mix(0.5).filled())),
    )?;
    Ok(())
}

/// One box per group: the quartiles as a box, the median as a line, whiskers to the
/// minimum and maximum, every value as a dot.
pub fn boxes(
    area: &DrawingArea<SVGBackend, Shift>,
    title: &str,
    y_label: &str,
    groups: &[(String, Vec<f64>)],
) -> Drawn {
    let (y0, y1) = range(groups.iter().flat_map(|(_, v)| v.iter().copied()));
    let count = groups.len().max(1);
    let names: Vec<String> = groups.iter().map(|(n, _)| n.clone()).collect();
    let label = move |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < names.len() {
            names[i as usize].clone()
        } else {
            String::new()
        }
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 15))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.6..count as f64 - 0.4, y0..y1)?;
    let axes = Axes {
        x_labels: count + 1,
        y_labels: 6,
        x_format: &label,
        y_desc: y_label,
        ..Axes::default()
    };
    draw_axes(&mut chart, axes)?;
    for (i, (_, values)) in groups.iter().enumerate() {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            continue;
        }
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let at = p * (v.len() - 1) as f64;
            let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (at - lo as f64)
        };
        let x = i as f64;
        let c = colour(i);
        let style = c.stroke_width(SERIES_WIDTH);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x - 0.3, q(0.25)), (x + 0.3, q(0.75))],
            c.mix(0.25).filled(),
        )))?;
        for (a, b) in [
            ((x - 0.3, q(0.5)), (x + 0.3, q(0.5))),
            ((x, v[0]), (x, q(0.25))),
            ((x, q(0.75)), (x, v[v.len() - 1])),
        ] {
            chart.draw_series(std::iter::once(PathElement::new(vec![a, b], style)))?;
        }
        chart.draw_series(v.iter().map(|&y| Circle::new((x, y), 3, c.filled())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_ends_and_at_most_about_max() {
        let kept: Vec<usize> = thinned(10, 4).collect();
        assert_eq!(kept, [0, 3, 6, 9]);
        let kept: Vec<usize> = thinned(11, 4).collect();
        assert_eq!(kept, [0, 3, 6, 9, 10]);
        assert_eq!(thinned(3, 100).count(), 3);
        assert_eq!(thinned(0, 100).count(), 0);
        assert!(thinned(1_000_000, 1500).count() <= 1501);
    }

    #[test]
    fn a_histogram_integrates_to_one() {
        let values: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin()).collect();
        let h = Histogram::of(&values);
        let area: f64 = h
            .density
            .iter()
            .zip(h.edges.windows(2))
            .map(|(d, e)| d * (e[1] - e[0]))
            .sum();
        assert!((area - 1.0).abs() < 1e-9, "{area}");
        assert_eq!(h.edges.len(), h.density.len() + 1);
    }
}
