//! Summaries of repeated measurements: minimum, median and maximum, and percentiles.

/// The spread of repeated measurements of one quantity.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; all zero when there are none.
    pub fn of(values: &[f64]) -> Spread {
        if values.is_empty() {
            return Spread { min: 0.0, median: 0.0, max: 0.0 };
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        // An even count's median is the mean of its two middle values.
        let median = if sorted.len().is_multiple_of(2) { (sorted[middle - 1] + sorted[middle]) / 2.0 } else { sorted[middle] };
        Spread { min: sorted[0], median, max: sorted[sorted.len() - 1] }
    }

    /// `min / median / max`, each with `decimals` decimals.
    pub fn show(&self, decimals: usize) -> String {
        format!("{:.decimals$} / {:.decimals$} / {:.decimals$}", self.min, self.median, self.max)
    }
}

/// The `fraction` percentile (0.5 for the median) of values that are already sorted.
pub fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// A byte count as people read it: `1 KB`, `10 MB`, `1 GB` (decimal units, as the sizes are chosen).
pub fn bytes(count: f64) -> String {
    let units = [("GB", 1e9), ("MB", 1e6), ("KB", 1e3)];
    for (unit, scale) in units {
        if count >= scale {
            let value = count / scale;
            return if value >= 10.0 || (value - value.round()).abs() < 0.05 {
                format!("{value:.0} {unit}")
            } else {
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{count:.0} B")
}

/// Whether a target was met, as the report says it.
pub fn verdict(met: bool) -> &'static str {
    if met { "**met**" } else { "**missed**" }
}
