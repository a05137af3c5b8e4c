//! The Train view's plots of a sweep: a loss term per step and a validation
//! figure per epoch, run by run or each setting's mean over seeds with its
//! band; and held-out macro-F1 against beta with its spread over seeds, the
//! single-modal runs as reference lines (the paper's Fig. 7).

use egui_plot::{FilledArea, HLine, Legend, Line, Plot, PlotPoints, Points};

use super::widgets::palette;
use crate::app::curves::{BetaFigure, CurveMode, bands};
use crate::app::{Command, RunCurve, TrainState, smooth};

/// The loss plot, the validation plot and, when the sweep has finished
/// runs, macro-F1 against beta.
pub fn show(
    ui: &mut egui::Ui,
    state: &TrainState,
    curves: &[RunCurve],
    beta_figure: &BetaFigure,
    commands: &mut Vec<Command>,
) {
    let log = state.log_scale;
    let with_beta = !beta_figure.is_empty();
    let height = (ui.available_height() * if with_beta { 0.4 } else { 0.55 }).max(140.0);
    let term = state.loss_term;
    let loss_points = |curve: &RunCurve| -> Vec<[f64; 2]> {
        smooth(curve.term(term), state.smoothing)
            .into_iter()
            .map(|[x, y]| [x, if log { y.max(1e-9).log10() } else { y }])
            .collect()
    };
    let name = term.name();
    let loss_plot = Plot::new("loss_curves")
        .legend(Legend::default())
        .height(height)
        .x_axis_label("step")
        .y_axis_label(if log {
            format!("log10 {name}")
        } else {
            name.to_string()
        })
        .show(ui, |plot| draw(plot, curves, loss_points, state.curve_mode));
    commands.push(Command::PlotDrawn("loss", loss_plot.response.rect));
    let figure = state.validation_figure;
    let remaining = ui.available_height() - if with_beta { height + 60.0 } else { 60.0 };
    let accuracy_plot = Plot::new("accuracy_curves")
        .legend(Legend::default())
        .height(remaining.max(120.0))
        .x_axis_label("epoch")
        .y_axis_label(figure.name())
        .show(ui, |plot| {
            draw(
                plot,
                curves,
                |c: &RunCurve| c.figure(figure).to_vec(),
                state.curve_mode,
            )
        });
    commands.push(Command::PlotDrawn("accuracy", accuracy_plot.response.rect));
    if with_beta {
        let beta_plot = beta_plot(ui, beta_figure, height);
        commands.push(Command::PlotDrawn("beta", beta_plot));
    }
    // The numbers behind the curves, readable (and testable) as text.
    ui.horizontal_wrapped(|ui| {
        for curve in curves {
            let last = curve.term(term).last().map_or(f64::NAN, |p| p[1]);
            ui.label(format!(
                "{}: {} steps, {} {last:.3}",
                curve.label(),
                curve.losses.len(),
                short_term(term)
            ));
        }
    });
}

fn short_term(term: crate::app::curves::LossTerm) -> &'static str {
    match term {
        crate::app::curves::LossTerm::Objective => "loss",
        other => other.name(),
    }
}

/// Lines per run, or per setting the mean line with its band (one legend
/// entry: the band shares the line's name).
fn draw(
    plot: &mut egui_plot::PlotUi<'_>,
    curves: &[RunCurve],
    points: impl Fn(&RunCurve) -> Vec<[f64; 2]>,
    mode: CurveMode,
) {
    if mode == CurveMode::PerRun {
        for (index, curve) in curves.iter().enumerate() {
            let line = Line::new(curve.label(), PlotPoints::from(points(curve)));
            plot.line(line.color(palette(index)));
        }
        return;
    }
    for (index, band) in bands(curves, points, mode).iter().enumerate() {
        let colour = palette(index);
        let name = format!("{} ({} runs)", band.setting, band.runs);
        if band.runs > 1 {
            let xs: Vec<f64> = band.band.iter().map(|p| p[0]).collect();
            let low: Vec<f64> = band.band.iter().map(|p| p[1]).collect();
            let high: Vec<f64> = band.band.iter().map(|p| p[2]).collect();
            plot.add(
                FilledArea::new(name.clone(), &xs, &low, &high)
                    .fill_color(colour.gamma_multiply(0.25)),
            );
        }
        plot.line(Line::new(name, PlotPoints::from(band.mean.clone())).color(colour));
    }
}

/// Held-out macro-F1 of the fused runs against beta, mean with error bars of
/// one standard deviation over seeds; text-only and image-only as lines.
fn beta_plot(ui: &mut egui::Ui, figure: &BetaFigure, height: f32) -> egui::Rect {
    let response = Plot::new("beta_figure")
        .legend(Legend::default())
        .height(height.min(ui.available_height().max(120.0)))
        .x_axis_label("β (weight of cross-entropy)")
        .y_axis_label("held-out macro-F1")
        .show(ui, |plot| {
            let colour = palette(0);
            let name = "fused (mean ± 1 sd)";
            let means: Vec<[f64; 2]> = figure
                .fused
                .iter()
                .map(|(beta, s)| [*beta, s.mean])
                .collect();
            plot.line(Line::new(name, PlotPoints::from(means.clone())).color(colour));
            plot.points(
                Points::new(name, PlotPoints::from(means))
                    .radius(4.0)
                    .color(colour),
            );
            for (beta, spread) in &figure.fused {
                let bar = vec![
                    [*beta, spread.mean - spread.sd],
                    [*beta, spread.mean + spread.sd],
                ];
                plot.line(Line::new(name, PlotPoints::from(bar)).color(colour));
            }
            for (index, (label, spread)) in [
                ("text only", figure.text_only),
                ("image only", figure.image_only),
            ]
            .into_iter()
            .enumerate()
            {
                if let Some(spread) = spread {
                    let name = format!("{label} {}", spread.text());
                    plot.hline(
                        HLine::new(name, spread.mean)
                            .color(palette(index + 1))
                            .style(egui_plot::LineStyle::dashed_loose()),
                    );
                }
            }
        });
    // The figures as text, readable (and testable) without the plot.
    ui.horizontal_wrapped(|ui| {
        for (beta, spread) in &figure.fused {
            ui.label(format!("β {beta}: {}", spread.text()));
        }
    });
    response.response.rect
}
