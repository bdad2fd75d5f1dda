//! `wesh sim --plot DIR`: the runs' figures as SVG (plotters).
//!
//! - `entropy.svg`: with `--sweep`, the mean entropy of a target (and its 5th percentile,
//!   dashed) against the first swept setting, one line per value of the others; a
//!   logarithmic axis when its values span more than a factor of 20. Without a sweep, the
//!   distribution of the targets' entropies.
//! - `latency.svg`: each run's latency CDF (a real message's packet, sender's link to
//!   recipient's mailbox).

use plotters::prelude::*;
use std::path::{Path, PathBuf};
use wesh_sim::SimReport;

/// The swept settings of one run: (name, value) pairs.
pub type Point = Vec<(String, String)>;

const SIZE: (u32, u32) = (900, 560);

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot create {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot draw {path}: {reason}")]
    Draw { path: PathBuf, reason: String },
    #[error("--plot: the swept setting {0} has a value that is not a number")]
    NotNumeric(String),
}

/// Writes `entropy.svg` and `latency.svg` in `dir`; returns their paths.
pub fn write_plots(dir: &Path, runs: &[(Point, SimReport)]) -> Result<Vec<PathBuf>, PlotError> {
    std::fs::create_dir_all(dir).map_err(|source| PlotError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    let entropy = dir.join("entropy.svg");
    let drawn = match runs.first().and_then(|(p, _)| p.first()) {
        Some((name, _)) => entropy_against(&entropy, name, runs),
        None => target_spread(&entropy, runs),
    };
    drawn.map_err(|reason| draw_error(&entropy, reason))?;
    let latency = dir.join("latency.svg");
    latency_cdfs(&latency, runs).map_err(|reason| draw_error(&latency, reason))?;
    Ok(vec![entropy, latency])
}

fn draw_error(path: &Path, reason: DrawFailure) -> PlotError {
    match reason {
        DrawFailure::NotNumeric(name) => PlotError::NotNumeric(name),
        DrawFailure::Backend(reason) => PlotError::Draw {
            path: path.to_path_buf(),
            reason,
        },
    }
}

enum DrawFailure {
    NotNumeric(String),
    Backend(String),
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawFailure {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawFailure::Backend(e.to_string())
    }
}

/// One line: its label and its (x, y) points.
type Line = (String, Vec<(f64, f64)>);

/// Mean entropy (solid) and its 5th percentile (dashed) against the first swept setting.
fn entropy_against(
    path: &Path,
    name: &str,
    runs: &[(Point, SimReport)],
) -> Result<(), DrawFailure> {
    let mut x_values = Vec::new();
    for (point, _) in runs {
        let v = point.first().map(|(_, v)| v.as_str()).unwrap_or("");
        x_values.push(
            v.parse::<f64>()
                .map_err(|_| DrawFailure::NotNumeric(name.to_string()))?,
        );
    }
    let (lo, hi) = span(x_values.iter().copied());
    let log = lo > 0.0 && hi / lo > 20.0;
    let x_of = |v: f64| if log { v.log10() } else { v };
    // one line per value of the other swept settings, in the order they first appear
    let mut lines: Vec<(Line, Line)> = Vec::new();
    for ((point, r), x) in runs.iter().zip(&x_values) {
        let rest: Vec<String> = point
            .iter()
            .skip(1)
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        let label = if rest.is_empty() {
            "mean".to_string()
        } else {
            rest.join(" ")
        };
        let i = match lines.iter().position(|((l, _), _)| *l == label) {
            Some(i) => i,
            None => {
                lines.push(((label.clone(), Vec::new()), (label, Vec::new())));
                lines.len() - 1
            }
        };
        if let Some(((_, mean), (_, p5))) = lines.get_mut(i) {
            mean.push((x_of(*x), r.anonymity.entropy_bits));
            p5.push((x_of(*x), r.anonymity.entropy_bits_p5));
        }
    }
    let (x0, x1) = span(x_values.iter().map(|v| x_of(*v)));
    let (_, y1) = span(runs.iter().map(|(_, r)| r.anonymity.entropy_bits));
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let x_desc = if log {
        format!("log10({name})")
    } else {
        name.to_string()
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Entropy of a target message (dashed: 5th percentile)",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(pad(x0, x1), 0.0..(y1 * 1.1).max(1.0))?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("bits")
        .draw()?;
    for (i, ((label, mean), (_, p5))) in lines.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(mean.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(PointSeries::of_element(
            mean,
            4,
            color.filled(),
            &|c, s, st| Circle::new(c, s, st),
        ))?;
        chart.draw_series(DashedLineSeries::new(p5, 6, 4, color.stroke_width(1)))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Without a sweep: the targets' entropies, sorted (the fraction of targets at or under
/// each number of bits).
fn target_spread(path: &Path, runs: &[(Point, SimReport)]) -> Result<(), DrawFailure> {
    let lines: Vec<Line> = runs
        .iter()
        .map(|(_, r)| {
            let mut bits: Vec<f64> = r.per_target.iter().map(|(b, _)| *b).collect();
            bits.sort_by(f64::total_cmp);
            let n = bits.len().max(1) as f64;
            let points = bits
                .into_iter()
                .enumerate()
                .map(|(i, b)| (b, (i + 1) as f64 / n))
                .collect();
            (format!("{} clients", r.config.clients), points)
        })
        .collect();
    cdf_chart(
        path,
        "Entropy of the target messages",
        "bits",
        "fraction of targets",
        lines,
    )
}

fn latency_cdfs(path: &Path, runs: &[(Point, SimReport)]) -> Result<(), DrawFailure> {
    let lines: Vec<Line> = runs
        .iter()
        .map(|(point, r)| {
            let label = if point.is_empty() {
                format!("{} clients", r.config.clients)
            } else {
                let p: Vec<String> = point.iter().map(|(n, v)| format!("{n}={v}")).collect();
                p.join(" ")
            };
            let n = r.latency_cdf.len().saturating_sub(1).max(1) as f64;
            let points = r
                .latency_cdf
                .iter()
                .enumerate()
                .map(|(k, ms)| (*ms, k as f64 / n))
                .collect();
            (label, points)
        })
        .collect();
    cdf_chart(
        path,
        "Latency: sender's link to recipient's mailbox",
        "milliseconds",
        "fraction of messages",
        lines,
    )
}

/// Lines of (value, cumulative fraction).
fn cdf_chart(
    path: &Path,
    caption: &str,
    x_desc: &str,
    y_desc: &str,
    lines: Vec<Line>,
) -> Result<(), DrawFailure> {
    let (x0, x1) = span(lines.iter().flat_map(|(_, p)| p.iter().map(|(x, _)| *x)));
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(pad(x0, x1), 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()?;
    for (i, (label, points)) in lines.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// The smallest and largest of `values` (0, 1 when there are none).
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
}

/// An axis range around [lo, hi] with a little room (a single value gets some width).
fn pad(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let room = ((hi - lo) * 0.05).max(lo.abs() * 0.05).max(1e-3);
    (lo - room)..(hi + room)
}
