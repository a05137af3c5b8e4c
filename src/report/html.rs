//! The report's page: sections of headings, tables and inline SVG plots,
//! every text escaped.

use std::fmt::Write as _;

use html_escape::encode_text as escape;

use super::plots::{self, Series};
use super::{ReportError, ReportRun, SweepData};
use crate::analysis::curves::{BetaFigure, CurveMode, LossTerm, Spread, ValidationFigure, bands};
use crate::store::RunListing;

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}figure{margin:1em 0}\
.diag{background:#d8f0dc}.off{background:#f8dcd8}pre{background:#f6f6f6;padding:8px;overflow:auto}";

/// The whole page.
pub fn page(data: &SweepData) -> Result<String, ReportError> {
    let mut html = String::new();
    let title = format!("shelfwise: sweep {}", data.sweep);
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1>",
        escape(&title),
        escape(&title)
    );
    library_section(&mut html, data);
    runs_section(&mut html, data);
    plots_section(&mut html, data)?;
    evaluation_section(&mut html, data);
    settings_section(&mut html, data);
    html.push_str("</body></html>\n");
    Ok(html)
}

fn library_section(html: &mut String, data: &SweepData) {
    let stats = &data.stats;
    let trunk = data
        .runs
        .iter()
        .find_map(|r| r.summary.as_ref())
        .map_or_else(|| "no run finished".into(), RunSummary::trunk_label);
    let seeds: std::collections::BTreeSet<u64> = data.runs.iter().map(|r| r.config.seed).collect();
    let _ = write!(
        html,
        "<h2>Library and trunk</h2><table><tr><th>library</th><td>{}</td></tr>\
         <tr><th>books</th><td>{}</td></tr><tr><th>with a cover</th><td>{}</td></tr>\
         <tr><th>with a synopsis</th><td>{}</td></tr><tr><th>categories</th><td>{}</td></tr>\
         <tr><th>trunk</th><td>{}</td></tr><tr><th>seeds</th><td>{}</td></tr>\
         <tr><th>held out per seed</th><td>{:.0}% of each category</td></tr></table>",
        escape(&data.library_root.display().to_string()),
        stats.books,
        stats.with_cover,
        stats.with_synopsis,
        stats.categories.len(),
        escape(&trunk),
        seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        100.0 * data.runs.first().map_or(0.0, |r| r.config.validation_share),
    );
}

use crate::train::RunSummary;

fn runs_section(html: &mut String, data: &SweepData) {
    html.push_str("<h2>Runs</h2><table><tr><th>run</th><th>seed</th><th>kind</th><th>status</th><th>best epoch</th><th>held-out accuracy</th><th>held-out macro-F1</th></tr>");
    for run in &data.runs {
        let l = &run.listing;
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            l.run_id,
            run.config.seed,
            escape(&crate::analysis::labels::run_label(l)),
            crate::analysis::labels::status_label(l),
            l.best_epoch.map_or("—".into(), |e| e.to_string()),
            figure(l.val_accuracy),
            figure(l.val_macro_f1),
        );
    }
    html.push_str("</table><h3>By setting, over seeds</h3><table><tr><th>setting</th><th>runs</th><th>held-out macro-F1 (mean ± sd)</th><th>min</th><th>max</th></tr>");
    for (setting, spread) in by_setting(&data.runs) {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{:.3} ± {:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
            escape(&setting),
            spread.count,
            spread.mean,
            spread.sd,
            spread.min,
            spread.max
        );
    }
    html.push_str("</table>");
}

fn figure(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{v:.3}"))
}

/// Each setting's held-out macro-F1 over its finished runs.
fn by_setting(runs: &[ReportRun]) -> Vec<(String, Spread)> {
    let mut settings: Vec<(String, Vec<f64>)> = Vec::new();
    for run in runs {
        let Some(f1) = finished_f1(&run.listing) else {
            continue;
        };
        let setting = crate::analysis::labels::run_label(&run.listing);
        match settings.iter_mut().find(|(s, _)| *s == setting) {
            Some((_, values)) => values.push(f1),
            None => settings.push((setting, vec![f1])),
        }
    }
    settings
        .into_iter()
        .map(|(setting, values)| (setting, Spread::of(&values)))
        .collect()
}

fn finished_f1(listing: &RunListing) -> Option<f64> {
    (listing.status == crate::store::RunStatus::Finished)
        .then_some(listing.val_macro_f1)
        .flatten()
}

fn plots_section(html: &mut String, data: &SweepData) -> Result<(), ReportError> {
    html.push_str("<h2>Training</h2>");
    let curves: Vec<_> = data.runs.iter().map(|r| r.curve.clone()).collect();
    let several = data
        .runs
        .iter()
        .any(|r| r.config.seed != data.runs[0].config.seed);
    let mode = if several {
        CurveMode::MeanSd
    } else {
        CurveMode::PerRun
    };
    let note = if several {
        "each setting's mean over seeds, the band one standard deviation"
    } else {
        "one line per run"
    };
    let _ = write!(
        html,
        "<p>Curves: {note}. The objective weighs its terms by beta; each term alone compares runs of different betas on one scale.</p>"
    );
    for term in LossTerm::ALL {
        let series = series_of(&curves, |c| c.term(term).to_vec(), mode);
        if series.iter().all(|s| s.points.is_empty()) {
            continue;
        }
        let svg = plots::lines(term.name(), ("step", term.name()), &series)?;
        push_figure(html, &svg, &format!("{} per step", term.name()));
    }
    for figure in [ValidationFigure::MacroF1, ValidationFigure::Accuracy] {
        let series = series_of(&curves, |c| c.figure(figure).to_vec(), mode);
        let svg = plots::lines(figure.name(), ("epoch", figure.name()), &series)?;
        push_figure(html, &svg, &format!("{} per epoch", figure.name()));
    }
    let listings: Vec<&RunListing> = data.runs.iter().map(|r| &r.listing).collect();
    let beta = BetaFigure::of(&listings);
    if !beta.is_empty() {
        let svg = plots::beta_figure(&beta)?;
        push_figure(
            html,
            &svg,
            "held-out macro-F1 against beta (the paper's Fig. 7, with its spread)",
        );
    }
    Ok(())
}

fn series_of(
    curves: &[crate::analysis::curves::RunCurve],
    points: impl Fn(&crate::analysis::curves::RunCurve) -> Vec<[f64; 2]>,
    mode: CurveMode,
) -> Vec<Series> {
    if mode == CurveMode::PerRun {
        return curves
            .iter()
            .map(|c| Series::line(c.label(), points(c)))
            .collect();
    }
    bands(curves, points, mode)
        .iter()
        .map(Series::of_band)
        .collect()
}

fn push_figure(html: &mut String, svg: &str, caption: &str) {
    if svg.is_empty() {
        return;
    }
    let _ = write!(
        html,
        "<figure>{svg}<figcaption>{}</figcaption></figure>",
        escape(caption)
    );
}

fn evaluation_section(html: &mut String, data: &SweepData) {
    html.push_str("<h2>Evaluation on the held-out books</h2>");
    for run in &data.runs {
        let Some(summary) = &run.summary else {
            continue;
        };
        let Some(tables) = &summary.validation else {
            continue;
        };
        let _ = write!(
            html,
            "<details><summary>Run {}: {} (seed {}), macro-F1 {:.3}</summary>",
            run.listing.run_id,
            escape(&crate::analysis::labels::run_label(&run.listing)),
            run.config.seed,
            tables.confusion.macro_f1()
        );
        category_table(html, tables);
        confusion_table(html, tables, &summary.categories);
        retrieval_table(html, tables);
        html.push_str("</details>");
    }
}

fn category_table(html: &mut String, tables: &crate::train::ValidationTables) {
    html.push_str("<table><tr><th>category</th><th>books</th><th>sensitivity</th><th>specificity</th><th>ppv</th><th>iou</th><th>dice</th></tr>");
    for (name, m) in &tables.per_category {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
            escape(name),
            m.support,
            m.sensitivity,
            m.specificity,
            m.ppv,
            m.iou,
            m.dice
        );
    }
    html.push_str("</table>");
}

fn confusion_table(
    html: &mut String,
    tables: &crate::train::ValidationTables,
    categories: &[String],
) {
    let matrix = &tables.confusion;
    html.push_str("<table><tr><th>true \\ predicted</th>");
    for name in categories.iter().take(matrix.classes) {
        let _ = write!(html, "<th>{}</th>", escape(name));
    }
    html.push_str("</tr>");
    for (actual, name) in categories.iter().enumerate().take(matrix.classes) {
        let _ = write!(html, "<tr><th>{}</th>", escape(name));
        for predicted in 0..matrix.classes {
            let class = if actual == predicted { "diag" } else { "off" };
            let count = matrix.count(actual, predicted);
            let _ = write!(
                html,
                "<td class=\"{}\">{count}</td>",
                if count > 0 { class } else { "" }
            );
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
}

fn retrieval_table(html: &mut String, tables: &crate::train::ValidationTables) {
    let Some(retrieval) = &tables.retrieval else {
        return;
    };
    html.push_str("<table><tr><th>retrieval</th><th>R@1</th><th>R@5</th><th>R@10</th></tr>");
    for (side, name) in [
        (&retrieval.text, "text to cover"),
        (&retrieval.image, "cover to text"),
    ] {
        let _ = write!(
            html,
            "<tr><td>{name}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
            side.r1, side.r5, side.r10
        );
    }
    if let Some(gallery) = tables.retrieval_gallery {
        let n = gallery as f64;
        let _ = write!(
            html,
            "<tr><td>chance ({gallery} books)</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
            1.0 / n,
            5.0 / n,
            10.0 / n
        );
    }
    let _ = write!(html, "</table><p>mR {:.3}</p>", retrieval.mean_recall);
}

fn settings_section(html: &mut String, data: &SweepData) {
    html.push_str("<h2>Settings</h2>");
    for run in &data.runs {
        let json = serde_json::to_string_pretty(&run.config).unwrap_or_default();
        let _ = write!(
            html,
            "<details><summary>Run {} settings</summary><pre>{}</pre></details>",
            run.listing.run_id,
            escape(&json)
        );
    }
    for run in data.runs.iter().filter_map(|r| r.summary.as_ref()).take(1) {
        let trunk = serde_json::to_string_pretty(&run.trunk).unwrap_or_default();
        let _ = write!(
            html,
            "<h3>Trunk provenance</h3><pre>{}</pre>",
            escape(&trunk)
        );
    }
}
