//! The sweep report's plots, drawn with plotters as SVG to sit inside the
//! one HTML page: lines per run or per setting with a band, and macro-F1
//! against beta with error bars and the single-modal runs as references.

use plotters::prelude::*;

use super::ReportError;
use crate::analysis::curves::{BandCurve, BetaFigure};

const SIZE: (u32, u32) = (820, 380);

/// The report's colours, in the window's order (egui's plot palette is not
/// reachable without a window).
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn colour(index: usize) -> RGBColor {
    COLOURS[index % COLOURS.len()]
}

fn plot_error(error: impl std::fmt::Display) -> ReportError {
    ReportError::Plot(error.to_string())
}

/// The coordinates every report plot draws in.
type Coordinates =
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>;

/// What frames a plot: its title, axis labels, ranges and legend corner.
struct Frame<'a> {
    title: &'a str,
    labels: (&'a str, &'a str),
    ranges: ((f64, f64), (f64, f64)),
    legend: SeriesLabelPosition,
}

/// A white SVG chart with its caption, axes and mesh; `draw` adds the
/// series, then the legend is drawn.
fn svg_chart(
    frame: Frame<'_>,
    draw: impl FnOnce(&mut ChartContext<'_, SVGBackend<'_>, Coordinates>) -> Result<(), ReportError>,
) -> Result<String, ReportError> {
    let ((x0, x1), (y0, y1)) = frame.ranges;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(frame.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(frame.labels.0)
            .y_desc(frame.labels.1)
            .draw()
            .map_err(plot_error)?;
        draw(&mut chart)?;
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(frame.legend)
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// One line of a plot, with its band when it is a mean over seeds.
pub struct Series {
    pub name: String,
    pub points: Vec<[f64; 2]>,
    /// `[x, low, high]`.
    pub band: Vec<[f64; 3]>,
}

impl Series {
    pub fn line(name: String, points: Vec<[f64; 2]>) -> Self {
        Self {
            name,
            points,
            band: Vec::new(),
        }
    }

    pub fn of_band(band: &BandCurve) -> Self {
        Self {
            name: format!("{} ({} runs)", band.setting, band.runs),
            points: band.mean.clone(),
            band: if band.runs > 1 {
                band.band.clone()
            } else {
                Vec::new()
            },
        }
    }
}

/// The range of some values, widened a little (and made non-empty).
fn span(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (low, high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !low.is_finite() {
        return None;
    }
    let pad = ((high - low) * 0.05).max(1e-3);
    Some((low - pad, high + pad))
}

/// Lines (with bands) against x, as an SVG document.
pub fn lines(
    title: &str,
    (x_label, y_label): (&str, &str),
    series: &[Series],
) -> Result<String, ReportError> {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p[0]));
    let ys = series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|p| p[1])
            .chain(s.band.iter().flat_map(|b| [b[1], b[2]]))
    });
    let (Some((x0, x1)), Some((y0, y1))) = (span(xs), span(ys)) else {
        return Ok(String::new());
    };
    let frame = Frame {
        title,
        labels: (x_label, y_label),
        ranges: ((x0, x1), (y0, y1)),
        legend: SeriesLabelPosition::UpperRight,
    };
    svg_chart(frame, |chart| {
        for (index, line) in series.iter().enumerate() {
            let colour = colour(index);
            if !line.band.is_empty() {
                let outline: Vec<(f64, f64)> = line
                    .band
                    .iter()
                    .map(|b| (b[0], b[2]))
                    .chain(line.band.iter().rev().map(|b| (b[0], b[1])))
                    .collect();
                chart
                    .draw_series(std::iter::once(Polygon::new(outline, colour.mix(0.2))))
                    .map_err(plot_error)?;
            }
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().map(|p| (p[0], p[1])),
                    colour.stroke_width(2),
                ))
                .map_err(plot_error)?
                .label(line.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        }
        Ok(())
    })
}

/// Held-out macro-F1 against beta: the fused runs' mean with error bars of
/// one standard deviation, the single-modal runs as dashed references.
pub fn beta_figure(figure: &BetaFigure) -> Result<String, ReportError> {
    let betas = figure.fused.iter().map(|(beta, _)| *beta);
    let (x0, x1) = span(betas.chain([0.0, 1.0])).unwrap_or((0.0, 1.0));
    let values = figure
        .fused
        .iter()
        .flat_map(|(_, s)| [s.mean - s.sd, s.mean + s.sd])
        .chain(figure.text_only.iter().map(|s| s.mean))
        .chain(figure.image_only.iter().map(|s| s.mean));
    let Some((y0, y1)) = span(values) else {
        return Ok(String::new());
    };
    let frame = Frame {
        title: "Held-out macro-F1 against beta",
        labels: ("beta (weight of cross-entropy)", "held-out macro-F1"),
        ranges: ((x0, x1), (y0, y1)),
        legend: SeriesLabelPosition::LowerRight,
    };
    svg_chart(frame, |chart| {
        let fused = colour(0);
        chart
            .draw_series(LineSeries::new(
                figure.fused.iter().map(|(beta, s)| (*beta, s.mean)),
                fused.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label("fused (mean ± 1 sd over seeds)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], fused));
        chart
            .draw_series(figure.fused.iter().map(|(beta, s)| {
                ErrorBar::new_vertical(
                    *beta,
                    s.mean - s.sd,
                    s.mean,
                    s.mean + s.sd,
                    fused.filled(),
                    10,
                )
            }))
            .map_err(plot_error)?;
        reference_lines(chart, figure, (x0, x1))
    })
}

/// The single-modal runs' mean macro-F1 as dashed lines across the plot.
fn reference_lines<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Coordinates>,
    figure: &BetaFigure,
    (x0, x1): (f64, f64),
) -> Result<(), ReportError> {
    for (index, (name, spread)) in [
        ("text only", figure.text_only),
        ("image only", figure.image_only),
    ]
    .into_iter()
    .enumerate()
    {
        let Some(spread) = spread else {
            continue;
        };
        let colour = colour(index + 1);
        let dashes = (0..20).map(|i| {
            let a = x0 + (x1 - x0) * i as f64 / 20.0;
            let b = a + (x1 - x0) / 40.0;
            PathElement::new(
                vec![(a, spread.mean), (b, spread.mean)],
                colour.stroke_width(2),
            )
        });
        chart
            .draw_series(dashes)
            .map_err(plot_error)?
            .label(format!("{name} {}", spread.text()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    Ok(())
}
