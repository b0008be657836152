//! The run's report: percentiles in milliseconds, one JSON object (`--json`) or a table.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::codec::Codec;
use crate::scenario::ScenarioKind;

const MICROS_PER_MILLI: f64 = 1_000.0;

/// Latency percentiles of one histogram, in milliseconds with three decimals (microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// Percentiles of a histogram of microseconds; `None` when it is empty.
pub fn percentiles(h: &Histogram<u64>) -> Option<Percentiles> {
    (!h.is_empty()).then(|| Percentiles {
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
    })
}

/// Microseconds as milliseconds (three decimals, exact).
pub fn ms(us: u64) -> f64 {
    us as f64 / MICROS_PER_MILLI
}

/// Rounds to three decimals.
pub fn round3(x: f64) -> f64 {
    (x * 1_000.0).round() / 1_000.0
}

/// Connections the server (or the transport) ended before the run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Disconnects {
    pub total: u64,
    /// Close code (1006: no close frame) -> connections.
    pub by_code: BTreeMap<String, u64>,
}

impl Disconnects {
    pub fn add(&mut self, code: u16) {
        self.total += 1;
        *self.by_code.entry(code.to_string()).or_default() += 1;
    }
}

/// Everything a run measured. Field order is the JSON order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub version: String,
    pub scenario: ScenarioKind,
    pub protocol: Codec,
    pub in_process: bool,
    pub url: String,
    pub board: Option<String>,
    pub board_width: u32,
    pub board_height: u32,
    pub tile_size: Option<u32>,
    pub tick_ms: Option<u32>,
    pub viewport_width: u32,
    pub viewport_height: u32,
    pub zoom: Option<f64>,
    /// `[x, y, width, height]` of the hotspot scenario's hot region.
    pub hot_region: Option<[u32; 4]>,
    pub pan_interval_ms: Option<u64>,
    pub pan_guard_ms: Option<u64>,
    pub seed: u64,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub window_s: f64,
    pub sessions_requested: usize,
    pub sessions_connected: usize,
    /// Viewers stably subscribed to their whole first viewport before painting started.
    pub sessions_ready: usize,
    pub connect_errors: usize,
    pub first_connect_error: Option<String>,
    pub connect_s: f64,
    pub painters: usize,
    pub paint_rate_requested: u64,
    /// Measured paints sent (warm-up excluded).
    pub paints_sent: u64,
    /// All paints sent, warm-up included.
    pub paints_sent_total: u64,
    pub paints_per_s: f64,
    pub send_lag_p99_ms: Option<f64>,
    pub send_lag_max_ms: Option<f64>,
    /// Over all paints sent (`raw` has no paint results: `null`).
    pub paints_accepted: Option<u64>,
    pub paints_rejected: Option<u64>,
    pub rejected_by_reason: BTreeMap<&'static str, u64>,
    pub paint_results_unmatched: u64,
    pub ack_latency_ms: Option<Percentiles>,
    pub latency_ms: Option<Percentiles>,
    pub deliveries_expected: u64,
    pub deliveries_received: u64,
    pub deliveries_transitional: u64,
    pub deliveries_warmup: u64,
    /// `deliveries_expected - deliveries_received`; negative would be an accounting bug.
    pub missing: i64,
    /// `null` when the per-viewer bitsets would not fit the memory budget.
    pub duplicates: Option<u64>,
    pub unknown_updates: u64,
    pub bad_frames: u64,
    pub version_gaps: u64,
    pub resyncs: u64,
    pub server_errors: u64,
    pub disconnects: Disconnects,
    pub painter_disconnects: Disconnects,
    pub viewport_moves: u64,
    pub deliveries_per_s: f64,
    pub frames_per_s: f64,
    pub bytes_per_s: f64,
    pub server_pid: Option<u32>,
    pub server_rss_mib: Option<f64>,
    pub server_cpu_pct: Option<f64>,
    /// `server_cpu_pct` split into the server's own code and the kernel on its behalf: what
    /// separates a server's per-frame cost from the socket's (BENCHMARKS.md).
    pub server_user_cpu_pct: Option<f64>,
    pub server_system_cpu_pct: Option<f64>,
    pub tool_cpu_pct: Option<f64>,
    pub machine_busy_pct: Option<f64>,
}

/// The table's rows, in reading order. Every JSON key must appear (checked by a test).
const TABLE_ORDER: &[&str] = &[
    "version",
    "scenario",
    "protocol",
    "in_process",
    "url",
    "board",
    "board_width",
    "board_height",
    "tile_size",
    "tick_ms",
    "viewport_width",
    "viewport_height",
    "zoom",
    "hot_region",
    "pan_interval_ms",
    "pan_guard_ms",
    "seed",
    "duration_s",
    "warmup_s",
    "window_s",
    "sessions_requested",
    "sessions_connected",
    "sessions_ready",
    "connect_errors",
    "first_connect_error",
    "connect_s",
    "painters",
    "paint_rate_requested",
    "paints_sent",
    "paints_sent_total",
    "paints_per_s",
    "send_lag_p99_ms",
    "send_lag_max_ms",
    "paints_accepted",
    "paints_rejected",
    "rejected_by_reason",
    "paint_results_unmatched",
    "ack_latency_ms",
    "latency_ms",
    "deliveries_expected",
    "deliveries_received",
    "deliveries_transitional",
    "deliveries_warmup",
    "missing",
    "duplicates",
    "unknown_updates",
    "bad_frames",
    "version_gaps",
    "resyncs",
    "server_errors",
    "disconnects",
    "painter_disconnects",
    "viewport_moves",
    "deliveries_per_s",
    "frames_per_s",
    "bytes_per_s",
    "server_pid",
    "server_rss_mib",
    "server_cpu_pct",
    "server_user_cpu_pct",
    "server_system_cpu_pct",
    "tool_cpu_pct",
    "machine_busy_pct",
];

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report of plain numbers and strings serialises")
    }

    /// One `name  value` line per field; nested values as compact JSON.
    pub fn table(&self) -> String {
        let value = serde_json::to_value(self).expect("a report serialises");
        let width = TABLE_ORDER.iter().map(|k| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for key in TABLE_ORDER {
            let Some(v) = value.get(key) else {
                continue;
            };
            out.push_str(&format!("{key:>width$}  {}\n", cell(v)));
        }
        out
    }
}

/// Keys of nested objects shown first, in this order (JSON objects come back sorted).
const NESTED_ORDER: &[&str] = &["p50", "p90", "p99", "p999", "max", "total", "by_code"];

/// A value as a table cell: strings bare, objects as `key value` pairs in reading order.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| {
                NESTED_ORDER
                    .iter()
                    .position(|o| o == k)
                    .unwrap_or(usize::MAX)
            });
            keys.iter()
                .map(|k| format!("{k} {}", cell(&map[*k])))
                .collect::<Vec<_>>()
                .join("  ")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram_of(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = crate::latency::histogram();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn percentiles_are_milliseconds_with_microsecond_decimals() {
        // 1..=1000 µs: exact below 2048 at three significant digits.
        let p = percentiles(&histogram_of(1..=1000)).unwrap();
        assert_eq!(
            p,
            Percentiles {
                p50: 0.5,
                p90: 0.9,
                p99: 0.99,
                p999: 0.999,
                max: 1.0
            }
        );
        assert_eq!(percentiles(&histogram_of([])), None);
    }

    #[test]
    fn large_values_keep_three_significant_digits() {
        let p = percentiles(&histogram_of([1_234_567])).unwrap();
        assert!((p.max - 1234.567).abs() / 1234.567 < 1e-3, "{p:?}");
        assert_eq!(ms(1_234), 1.234);
        assert_eq!(round3(2.0 / 3.0), 0.667);
    }

    #[test]
    fn the_table_shows_every_json_field() {
        let report = Report {
            version: "v".into(),
            scenario: ScenarioKind::Uniform,
            protocol: Codec::Tessera,
            in_process: false,
            url: "ws://127.0.0.1:1/ws".into(),
            board: Some("main".into()),
            board_width: 1,
            board_height: 1,
            tile_size: Some(64),
            tick_ms: Some(20),
            viewport_width: 1,
            viewport_height: 1,
            zoom: Some(1.0),
            hot_region: None,
            pan_interval_ms: None,
            pan_guard_ms: None,
            seed: 1,
            duration_s: 1.0,
            warmup_s: 0.0,
            window_s: 1.0,
            sessions_requested: 1,
            sessions_connected: 1,
            sessions_ready: 1,
            connect_errors: 0,
            first_connect_error: None,
            connect_s: 0.0,
            painters: 1,
            paint_rate_requested: 1,
            paints_sent: 1,
            paints_sent_total: 1,
            paints_per_s: 1.0,
            send_lag_p99_ms: None,
            send_lag_max_ms: None,
            paints_accepted: Some(1),
            paints_rejected: Some(0),
            rejected_by_reason: BTreeMap::new(),
            paint_results_unmatched: 0,
            ack_latency_ms: None,
            latency_ms: None,
            deliveries_expected: 1,
            deliveries_received: 1,
            deliveries_transitional: 0,
            deliveries_warmup: 0,
            missing: 0,
            duplicates: Some(0),
            unknown_updates: 0,
            bad_frames: 0,
            version_gaps: 0,
            resyncs: 0,
            server_errors: 0,
            disconnects: Disconnects::default(),
            painter_disconnects: Disconnects::default(),
            viewport_moves: 0,
            deliveries_per_s: 1.0,
            frames_per_s: 1.0,
            bytes_per_s: 1.0,
            server_pid: None,
            server_rss_mib: None,
            server_cpu_pct: None,
            server_user_cpu_pct: None,
            server_system_cpu_pct: None,
            tool_cpu_pct: None,
            machine_busy_pct: None,
        };
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        let keys = json.as_object().unwrap().keys();
        assert_eq!(keys.len(), TABLE_ORDER.len());
        for key in keys {
            assert!(
                TABLE_ORDER.contains(&key.as_str()),
                "{key} missing from the table"
            );
        }
        assert_eq!(report.table().lines().count(), TABLE_ORDER.len());
    }

    #[test]
    fn nested_cells_read_in_percentile_order() {
        let p = Percentiles {
            p50: 1.0,
            p90: 2.0,
            p99: 3.0,
            p999: 4.0,
            max: 5.0,
        };
        let cell = cell(&serde_json::to_value(p).unwrap());
        assert_eq!(cell, "p50 1.0  p90 2.0  p99 3.0  p999 4.0  max 5.0");
    }
}
