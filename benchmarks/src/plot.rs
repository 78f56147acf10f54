//! The report's SVG plots, drawn with plotters' SVG backend: line charts whose axes may each be
//! logarithmic. A logarithmic axis is drawn as a linear axis of `log10(value)` whose labels show the
//! values themselves, so that one drawing routine serves every chart.

use std::path::Path;

use plotters::prelude::*;

/// One line of a chart.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Whether the points are drawn as dots only (a scatter), without the line.
    pub dots_only: bool,
}

impl Series {
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.into(), points, dots_only: false }
    }

    pub fn dots(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.into(), points, dots_only: true }
    }
}

/// How one axis is drawn.
pub struct Axis {
    pub description: String,
    pub logarithmic: bool,
    /// Formats a value (not its logarithm) for a label.
    pub label: fn(f64) -> String,
}

impl Axis {
    pub fn linear(description: impl Into<String>, label: fn(f64) -> String) -> Axis {
        Axis { description: description.into(), logarithmic: false, label }
    }

    pub fn logarithmic(description: impl Into<String>, label: fn(f64) -> String) -> Axis {
        Axis { description: description.into(), logarithmic: true, label }
    }

    fn to_drawn(&self, value: f64) -> f64 {
        if self.logarithmic { value.max(1e-12).log10() } else { value }
    }

    fn value_of_drawn(&self, drawn: f64) -> f64 {
        if self.logarithmic { 10f64.powf(drawn) } else { drawn }
    }

    /// The drawn range covering `values`, with a margin; whole decades on a logarithmic axis.
    fn range(&self, values: impl Iterator<Item = f64>) -> (f64, f64) {
        let drawn: Vec<f64> = values.map(|value| self.to_drawn(value)).filter(|value| value.is_finite()).collect();
        let low = drawn.iter().copied().fold(f64::INFINITY, f64::min);
        let high = drawn.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !low.is_finite() || !high.is_finite() {
            return (0.0, 1.0);
        }
        if self.logarithmic {
            (low.floor(), if high.ceil() > low.floor() { high.ceil() } else { low.floor() + 1.0 })
        } else {
            let span = if high > low { high - low } else { high.abs().max(1.0) };
            ((low - span * 0.05).min(if low >= 0.0 { 0.0 } else { low }), high + span * 0.08)
        }
    }
}

/// The colours of the series, in order.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(90, 90, 90),
];

/// Draws `series` into an SVG file at `path`.
pub fn line_chart(path: &Path, title: &str, x: &Axis, y: &Axis, series: &[Series]) -> Result<(), String> {
    draw(path, title, x, y, series).map_err(|error| format!("could not draw `{}`: {error}", path.display()))
}

fn draw(path: &Path, title: &str, x: &Axis, y: &Axis, series: &[Series]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let (x_low, x_high) = x.range(series.iter().flat_map(|series| series.points.iter().map(|point| point.0)));
    let (y_low, y_high) = y.range(series.iter().flat_map(|series| series.points.iter().map(|point| point.1)));
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x_low..x_high, y_low..y_high)?;
    let x_labels = if x.logarithmic { (x_high - x_low) as usize + 1 } else { 8 };
    let y_labels = if y.logarithmic { (y_high - y_low) as usize + 1 } else { 8 };
    chart
        .configure_mesh()
        .x_desc(x.description.as_str())
        .y_desc(y.description.as_str())
        .x_labels(x_labels)
        .y_labels(y_labels)
        .x_label_formatter(&|drawn| (x.label)(x.value_of_drawn(*drawn)))
        .y_label_formatter(&|drawn| (y.label)(y.value_of_drawn(*drawn)))
        .draw()?;
    for (index, series) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let points: Vec<(f64, f64)> = series.points.iter().map(|&(px, py)| (x.to_drawn(px), y.to_drawn(py))).collect();
        let dot_size = if series.dots_only { 2 } else { 4 };
        let drawn = chart.draw_series(points.iter().map(|&point| Circle::new(point, dot_size, colour.filled())))?;
        drawn.label(series.name.as_str()).legend(move |(lx, ly)| Circle::new((lx + 10, ly), 4, colour.filled()));
        if !series.dots_only && points.len() > 1 {
            chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}
