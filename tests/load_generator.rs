//! `tessera-load` against the real server (and in-process): in every scenario every paint reaches
//! every viewer that should see it, exactly once. Correctness only: timings are never asserted,
//! so the tests hold on a loaded two-core CI machine.

use std::process::Command;

use serde_json::Value;

// The integration tests' own `spawn_app` (real server, port 0, temp data dir); this binary uses
// only part of it.
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

/// Viewers per run, and the `sessions_connected` every run must reach.
const SESSIONS: &str = "20";

/// Runs the generator binary with the common small load plus `extra`; returns its JSON report.
async fn generate(extra: &[&str]) -> Value {
    let args: Vec<String> = [
        "--json",
        "--sessions",
        SESSIONS,
        "--painters",
        "2",
        "--paint-rate",
        "500",
        "--duration",
        "2",
        "--warmup",
        "1",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_tessera-load"))
            .args(&args)
            .output()
            .expect("tessera-load runs")
    })
    .await
    .expect("joined");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tessera-load failed: {stderr}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout must be one JSON object ({e}); stderr: {stderr}"))
}

/// Runs the generator against a real server on `helpers::SMALL_BOARD` (256x256 in 16 tiles).
async fn against_server(extra: &[&str]) -> Value {
    let (server, _dir) = helpers::spawn_app(helpers::SMALL_BOARD).await;
    let url = server.ws_url();
    let args: Vec<&str> = ["--url", url.as_str()]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let report = generate(&args).await;
    server.stop().await;
    report
}

fn count(report: &Value, key: &str) -> i64 {
    report[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} is not a number in {report}"))
}

/// Every expected delivery arrived, once, and every paint was accepted.
fn assert_every_paint_delivered_once(report: &Value) {
    assert_eq!(count(report, "sessions_connected"), 20, "{report}");
    assert_eq!(count(report, "missing"), 0, "{report}");
    assert_eq!(count(report, "duplicates"), 0, "{report}");
    assert_eq!(count(report, "unknown_updates"), 0, "{report}");
    assert_eq!(count(report, "bad_frames"), 0, "{report}");
    assert_eq!(count(report, "version_gaps"), 0, "{report}");
    assert!(count(report, "deliveries_received") > 0, "{report}");
    assert_eq!(
        count(report, "paints_accepted"),
        count(report, "paints_sent_total"),
        "{report}"
    );
    assert_eq!(count(report, "paints_sent_total"), 1500, "{report}");
}

/// At zoom 16 a viewport (120x68) is smaller than the board, so viewers see different parts.
#[tokio::test(flavor = "multi_thread")]
async fn uniform_viewers_receive_every_paint_once() {
    let report = against_server(&["--scenario", "uniform", "--zoom", "16"]).await;
    assert_every_paint_delivered_once(&report);
    assert!(
        count(&report, "deliveries_expected") < 20 * count(&report, "paints_sent"),
        "each viewer sees only part of the board: {report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn overview_viewers_receive_every_paint() {
    // The server runs in this process, so its CPU is this process's.
    let pid = std::process::id().to_string();
    let report = against_server(&["--scenario", "overview", "--server-pid", &pid]).await;
    assert_every_paint_delivered_once(&report);
    let cpu = |key: &str| {
        report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} is not a number in {report}"))
    };
    // The server's own code ran (decoding, actors: 18-19% of a core in three runs). Its system
    // time was 1-4.5%, two to nine clock ticks: too few to assert on.
    assert!(cpu("server_user_cpu_pct") > 0.0, "{report}");
    assert!(
        (cpu("server_user_cpu_pct") + cpu("server_system_cpu_pct") - cpu("server_cpu_pct")).abs()
            < 0.01,
        "user and system time add up to the server's CPU: {report}"
    );
    // Every viewer sees the whole board: each measured paint reaches all twenty.
    assert_eq!(
        count(&report, "deliveries_expected"),
        20 * count(&report, "paints_sent"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hotspot_viewers_receive_every_paint_once() {
    let report = against_server(&["--scenario", "hotspot", "--zoom", "16"]).await;
    assert_every_paint_delivered_once(&report);
}

/// Panning changes a 120x68 viewport's tiles on the 256x256 board.
#[tokio::test(flavor = "multi_thread")]
async fn panning_viewers_miss_nothing_outside_their_moves() {
    let report = against_server(&[
        "--scenario",
        "pan",
        "--zoom",
        "16",
        "--pan-interval-ms",
        "700",
        "--pan-guard-ms",
        "300",
    ])
    .await;
    assert_every_paint_delivered_once(&report);
    assert!(count(&report, "viewport_moves") > 0, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn in_process_sessions_receive_every_paint_once() {
    let report = generate(&[
        "--in-process",
        "--board-width",
        "256",
        "--board-height",
        "256",
        "--tile-size",
        "64",
        "--scenario",
        "uniform",
        "--zoom",
        "16",
    ])
    .await;
    assert_every_paint_delivered_once(&report);
    assert_eq!(report["in_process"], Value::Bool(true));
}
