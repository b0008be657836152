//! One run from start to report: find the board, connect painters and viewers, paint on schedule,
//! sample CPU over the measured window, wait for stragglers, and gather everything into a report.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use parking_lot::Mutex;
use tessera::geometry::{BoardGeometry, MAX_TILE_SIZE};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::accounting::{SendLog, TileCounts};
use crate::cli::{Args, RAW_TICK_MS};
use crate::codec::Codec;
use crate::context::{BoardSpec, PanTiming, RunContext};
use crate::frame_memo::FrameMemo;
use crate::latency;
use crate::painter::{self, PainterCounts, PainterTask, REJECT_REASONS};
use crate::plan::PaintPlan;
use crate::progress::Progress;
use crate::report::{Disconnects, Report, percentiles, round3};
use crate::scenario::{Scenario, ScenarioKind};
use crate::sysstat::{self, CpuSample};
use crate::timeline::{RunClock, Timeline};
use crate::transport::in_process::{InProcessConfig, InProcessServer};
use crate::transport::{Link, Transport};
use crate::viewer::{self, Readiness, ViewerCounts, ViewerTask};

/// Paint 0 is due this long after everyone is ready: time for the timeline to reach every task.
const START_DELAY: Duration = Duration::from_millis(100);
/// After the window: how long painters that fell behind schedule may keep sending.
const PAINTER_OVERRUN: Duration = Duration::from_secs(5);
/// After the painters: how long deliveries still on their way are waited for.
const STRAGGLER_WAIT: Duration = Duration::from_secs(2);
/// How long stopped painters get to end their tasks.
const PAINTER_STOP_WAIT: Duration = Duration::from_secs(1);
/// Margin of the hard deadline over the run's planned length.
const DEADLINE_MARGIN: Duration = Duration::from_secs(30);
/// Progress bar refresh period while waiting.
const PROGRESS_PERIOD: Duration = Duration::from_millis(200);
/// Two paints of one pixel must be at least this many server ticks apart. The server coalesces
/// paints of a pixel within one tick (only the last is delivered), and a painter running a few
/// ticks late sends a burst; ten ticks keep repaints of a pixel apart through such bursts.
const MIN_REPAINT_TICKS: f64 = 10.0;
/// Upper bound on the memory of all viewers' duplicate bitsets together.
const DUP_CHECK_MAX_BYTES: u64 = 1 << 30;
/// Palette length of the raw protocol (r/place's 32 colours, like wsprobe).
const RAW_PALETTE_LEN: usize = 32;
/// In-process sessions beyond viewers and painters: the probe, with room to spare.
const IN_PROCESS_SPARE_SESSIONS: usize = 16;

/// The longest a run may take: warm-up, window, connection ramp, the ready timeout, and a margin
/// for painters running late and stragglers.
pub fn hard_deadline(args: &Args) -> Duration {
    let ramp = (args.sessions + args.painters) as f64 / args.connect_rate as f64;
    Duration::from_secs_f64(args.warmup + args.duration + ramp + args.ready_timeout)
        + DEADLINE_MARGIN
}

pub async fn run(args: &Args, painter_runtime: Handle) -> anyhow::Result<Report> {
    let progress = Progress::new();
    let clock = RunClock::start();
    let (transport, _stop_server) = transport(args)?;
    let board = discover(args, &transport).await?;
    let (width, height) = (board.geometry.width(), board.geometry.height());
    let scenario = Scenario::new(
        args.scenario,
        width,
        height,
        args.zoom,
        board.max_viewport_area,
        args.seed,
    )?;
    let plan = scenario.plan(board.palette_len, args.seed)?;
    let (warm, total) = args.paint_counts();
    check_plan(&plan, args, &board, total)?;
    let dup_bytes = total.div_ceil(64) * 8 * args.sessions as u64;
    let dup_check = dup_bytes <= DUP_CHECK_MAX_BYTES;
    warn_about_limits(args, &board, dup_check, &progress);
    let ctx = Arc::new(RunContext {
        clock,
        transport,
        codec: args.protocol,
        counts: TileCounts::new(board.geometry.tile_count()),
        board,
        scenario,
        plan,
        sends: SendLog::new(total),
        warm,
        total,
        painters: args.painters as u64,
        pan: (args.scenario == ScenarioKind::Pan).then(|| PanTiming {
            interval: args.pan_interval_ms * 1_000_000,
            guard: args.pan_guard_ms * 1_000_000,
        }),
        seed: args.seed,
        dup_check,
        memo: (args.protocol == Codec::Raw || args.scenario == ScenarioKind::Overview)
            .then(FrameMemo::default),
    });

    // Painters first, so they never lose a connection slot to the viewers. They run from the
    // start, keeping their connections alive, and begin painting once the timeline is set.
    let painter_links = connect_painters(&ctx, &painter_runtime).await?;
    let (start_painters, painter_start) = watch::channel(None);
    let (stop, stop_rx) = watch::channel(false);
    let painter_counts: Vec<_> = (0..args.painters)
        .map(|_| Arc::new(Mutex::new(PainterCounts::default())))
        .collect();
    let painter_tasks: Vec<JoinHandle<()>> = painter_links
        .into_iter()
        .zip(&painter_counts)
        .enumerate()
        .map(|(index, (link, counts))| {
            painter_runtime.spawn(painter::run(PainterTask {
                ctx: Arc::clone(&ctx),
                index: index as u64,
                link,
                timeline: painter_start.clone(),
                counts: Arc::clone(counts),
                stop: stop_rx.clone(),
            }))
        })
        .collect();
    let fleet = connect_viewers(&ctx, args, &progress).await;
    if fleet.ready.connected == 0 {
        bail!(
            "no viewer connected: {}",
            fleet.ready.first_error.as_deref().unwrap_or("timed out")
        );
    }

    let timeline = Timeline::new(
        clock.now_ns() + START_DELAY.as_nanos() as u64,
        args.paint_rate,
        warm,
        total,
    );
    let _ = fleet.timeline.send(Some(timeline));
    let _ = start_painters.send(Some(timeline));

    progress.phase("painting", total);
    // The bar counts paints sent while painting, deliveries received while waiting for them.
    let stragglers_phase = std::cell::Cell::new(false);
    let show = || {
        let p = sum_painters(&painter_counts);
        let v = sum_viewers(&fleet.counts).0;
        let position = if stragglers_phase.get() {
            v.received
        } else {
            p.counts.sent_total
        };
        progress.update(
            position,
            format!("received {} of {} expected", v.received, p.counts.expected),
        );
        (p, v)
    };
    wait_until(clock.at(timeline.window_start), || {
        show();
        false
    })
    .await;
    let cpu_before = CpuSample::take(args.server_pid);
    wait_until(clock.at(timeline.window_end), || {
        show();
        false
    })
    .await;
    let cpu = CpuSample::take(args.server_pid).since(&cpu_before);
    let server_rss_mib = args.server_pid.and_then(sysstat::rss_mib);
    let overrun = clock.at(timeline.window_end) + PAINTER_OVERRUN;
    wait_until(overrun, || show().0.all_done).await;
    progress.phase("stragglers", sum_painters(&painter_counts).counts.expected);
    stragglers_phase.set(true);
    let stragglers = tokio::time::Instant::now() + STRAGGLER_WAIT;
    wait_until(stragglers, || {
        let (p, v) = show();
        v.received >= p.counts.expected
    })
    .await;

    let _ = stop.send(true);
    for task in &fleet.tasks {
        task.abort();
    }
    for task in fleet.tasks {
        let _ = task.await;
    }
    for task in painter_tasks {
        let _ = tokio::time::timeout(PAINTER_STOP_WAIT, task).await;
    }
    progress.finish();
    Ok(build_report(
        args,
        &ctx,
        &timeline,
        &fleet.ready,
        fleet.connect_s,
        &sum_viewers(&fleet.counts),
        &sum_painters(&painter_counts),
        cpu,
        server_rss_mib,
    ))
}

/// Stops the in-process server when the run ends, however it ends.
struct StopServer(Option<Arc<InProcessServer>>);

impl Drop for StopServer {
    fn drop(&mut self) {
        if let Some(server) = &self.0 {
            server.stop();
        }
    }
}

fn transport(args: &Args) -> anyhow::Result<(Transport, StopServer)> {
    if !args.in_process {
        return Ok((
            Transport::Ws {
                url: args.url.clone(),
            },
            StopServer(None),
        ));
    }
    let (width, height) = args.board_size();
    let server = InProcessServer::start(InProcessConfig {
        width,
        height,
        tile_size: args.in_process_tile_size(),
        tick_ms: args.in_process_tick_ms(),
        max_sessions: args.sessions + args.painters + IN_PROCESS_SPARE_SESSIONS,
    })?;
    Ok((
        Transport::InProcess(Arc::clone(&server)),
        StopServer(Some(server)),
    ))
}

/// The board to paint: from a probe session's `Welcome` (tessera) or from the flags (raw).
async fn discover(args: &Args, transport: &Transport) -> anyhow::Result<BoardSpec> {
    if args.protocol == Codec::Raw {
        let (width, height) = args.board_size();
        return Ok(BoardSpec {
            id: None,
            index: 0,
            geometry: BoardGeometry::new(width, height, MAX_TILE_SIZE)
                .map_err(|e| anyhow!("--board-width/--board-height: {e}"))?,
            tile_size: None,
            palette_len: RAW_PALETTE_LEN,
            tick_ms: RAW_TICK_MS,
            max_viewport_area: u64::MAX,
            max_messages_per_second: None,
        });
    }
    let (_probe, welcome) = transport
        .open(Codec::Tessera)
        .await
        .map_err(|e| anyhow!("cannot open a session at {}: {e}", transport.describe()))?;
    let welcome = welcome.context("the server sent no Welcome")?;
    let ids: Vec<&str> = welcome.boards.iter().map(|b| b.id.as_str()).collect();
    let index = match &args.board {
        Some(id) => welcome
            .boards
            .iter()
            .position(|b| &b.id == id)
            .ok_or_else(|| anyhow!("the server has no board {id:?}; its boards are {ids:?}"))?,
        None if welcome.boards.is_empty() => bail!("the server has no boards"),
        None => 0,
    };
    let info = &welcome.boards[index];
    if info.cooldown_ms > 0 {
        bail!(
            "board {:?} has a cooldown of {} ms per user: most paints would be refused; load a board without cooldown",
            info.id,
            info.cooldown_ms
        );
    }
    Ok(BoardSpec {
        id: Some(info.id.clone()),
        index: u16::try_from(index).context("board index beyond the protocol's u16")?,
        geometry: BoardGeometry::new(info.width, info.height, info.tile_size)
            .map_err(|e| anyhow!("the server's board {:?}: {e}", info.id))?,
        tile_size: Some(info.tile_size),
        palette_len: info.palette.len(),
        tick_ms: welcome.limits.tick_ms,
        max_viewport_area: welcome.limits.max_viewport_area,
        max_messages_per_second: Some(welcome.limits.max_messages_per_second),
    })
}

/// Refuses runs whose paints could not all be identified, or could be coalesced by the server.
fn check_plan(plan: &PaintPlan, args: &Args, board: &BoardSpec, total: u64) -> anyhow::Result<()> {
    if total > plan.capacity() {
        bail!(
            "{total} paints would repeat a (pixel, colour) pair: this board and palette tell apart {} paints; shorten the run or lower --paint-rate",
            plan.capacity()
        );
    }
    if args.protocol == Codec::Tessera {
        let repaint = plan.min_repaint_secs(args.paint_rate as f64);
        let floor = MIN_REPAINT_TICKS * f64::from(board.tick_ms) / 1_000.0;
        if repaint < floor {
            bail!(
                "at {} paints/s one pixel would be painted again after {:.1} ms, within {MIN_REPAINT_TICKS} ticks of {} ms: \
                 the server could coalesce two paints of it and the first would count as missing; \
                 lower --paint-rate or use a larger board",
                args.paint_rate,
                repaint * 1_000.0,
                board.tick_ms
            );
        }
    }
    Ok(())
}

fn warn_about_limits(args: &Args, board: &BoardSpec, dup_check: bool, progress: &Progress) {
    if let Some(limit) = board.max_messages_per_second {
        let per_painter = args.paint_rate.div_ceil(args.painters as u64);
        if per_painter > u64::from(limit) {
            progress.warn(&format!(
                "{per_painter} paints/s per painter exceed the server's {limit} messages/s per session: \
                 expect RateLimited rejections; use more --painters"
            ));
        }
    }
    if !dup_check {
        progress.warn(&format!(
            "duplicate detection is off: one bit per paint and viewer would exceed {} MiB",
            DUP_CHECK_MAX_BYTES >> 20
        ));
    }
}

async fn connect_painters(ctx: &Arc<RunContext>, runtime: &Handle) -> anyhow::Result<Vec<Link>> {
    let mut links = Vec::with_capacity(ctx.painters as usize);
    for k in 0..ctx.painters {
        let task_ctx = Arc::clone(ctx);
        // Opened on the painters' runtime: a socket is driven by the runtime that created it.
        let (link, _) = runtime
            .spawn(async move { task_ctx.transport.open(task_ctx.codec).await })
            .await
            .context("painter connection task")?
            .map_err(|e| anyhow!("painter {k} could not connect: {e}"))?;
        links.push(link);
    }
    Ok(links)
}

/// How the viewers' connection phase went.
#[derive(Debug, Default)]
struct ReadyTally {
    connected: usize,
    ready: usize,
    errors: usize,
    lost: usize,
    first_error: Option<String>,
}

impl ReadyTally {
    fn add(&mut self, readiness: Readiness) {
        match readiness {
            Readiness::Connected => self.connected += 1,
            Readiness::Ready => self.ready += 1,
            Readiness::ConnectFailed(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
            Readiness::Lost => self.lost += 1,
        }
    }

    /// Viewers whose connection phase is over.
    fn settled(&self) -> usize {
        self.ready + self.errors + self.lost
    }
}

struct Fleet {
    counts: Vec<Arc<Mutex<ViewerCounts>>>,
    tasks: Vec<JoinHandle<()>>,
    timeline: watch::Sender<Option<Timeline>>,
    ready: ReadyTally,
    connect_s: f64,
}

/// Starts the viewers at `--connect-rate` and waits until each is ready or failed.
async fn connect_viewers(ctx: &Arc<RunContext>, args: &Args, progress: &Progress) -> Fleet {
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (timeline, timeline_rx) = watch::channel(None);
    let mut tally = ReadyTally::default();
    let mut counts = Vec::with_capacity(args.sessions);
    let mut tasks = Vec::with_capacity(args.sessions);
    progress.phase("connecting", args.sessions as u64);
    let show = |tally: &ReadyTally| {
        progress.update(
            tally.ready as u64,
            format!(
                "ready; {} connected, {} errors",
                tally.connected, tally.errors
            ),
        )
    };
    let started = Instant::now();
    for index in 0..args.sessions {
        let due = started + Duration::from_secs_f64(index as f64 / args.connect_rate as f64);
        tokio::time::sleep_until(due.into()).await;
        while let Ok(readiness) = ready_rx.try_recv() {
            tally.add(readiness);
        }
        let viewer_counts = Arc::new(Mutex::new(ViewerCounts::default()));
        tasks.push(tokio::spawn(viewer::run(ViewerTask {
            ctx: Arc::clone(ctx),
            index,
            counts: Arc::clone(&viewer_counts),
            readiness: ready_tx.clone(),
            timeline: timeline_rx.clone(),
        })));
        counts.push(viewer_counts);
        show(&tally);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.ready_timeout);
    while tally.settled() < args.sessions {
        match tokio::time::timeout_at(deadline, ready_rx.recv()).await {
            Ok(Some(readiness)) => tally.add(readiness),
            _ => break,
        }
        show(&tally);
    }
    Fleet {
        counts,
        tasks,
        timeline,
        ready: tally,
        connect_s: started.elapsed().as_secs_f64(),
    }
}

/// Waits until `deadline`, or until `done()` holds (checked every progress period).
async fn wait_until(deadline: tokio::time::Instant, mut done: impl FnMut() -> bool) {
    loop {
        let now = tokio::time::Instant::now();
        if done() || now >= deadline {
            return;
        }
        tokio::time::sleep(PROGRESS_PERIOD.min(deadline - now)).await;
    }
}

fn sum_viewers(list: &[Arc<Mutex<ViewerCounts>>]) -> (ViewerCounts, Disconnects) {
    let mut total = ViewerCounts::default();
    let mut disconnects = Disconnects::default();
    for counts in list {
        let counts = counts.lock();
        total.add(&counts);
        if let Some(code) = counts.disconnect {
            disconnects.add(code);
        }
    }
    (total, disconnects)
}

/// All painters' counters together.
struct PainterSummary {
    counts: PainterCounts,
    disconnects: Disconnects,
    all_done: bool,
}

fn sum_painters(list: &[Arc<Mutex<PainterCounts>>]) -> PainterSummary {
    let mut total = PainterCounts::default();
    let mut disconnects = Disconnects::default();
    let mut all_done = true;
    for counts in list {
        let c = counts.lock();
        total.sent_total += c.sent_total;
        total.sent_measured += c.sent_measured;
        total.expected += c.expected;
        total.accepted += c.accepted;
        for (sum, n) in total.rejected.iter_mut().zip(c.rejected) {
            *sum += n;
        }
        total.unmatched_results += c.unmatched_results;
        total.bad_frames += c.bad_frames;
        total.server_errors += c.server_errors;
        total.last_send = total.last_send.max(c.last_send);
        if let Some(code) = c.disconnect {
            disconnects.add(code);
        }
        // A painter that lost its connection will send nothing more.
        all_done &= c.done || c.disconnect.is_some();
    }
    PainterSummary {
        counts: total,
        disconnects,
        all_done,
    }
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    args: &Args,
    ctx: &RunContext,
    timeline: &Timeline,
    ready: &ReadyTally,
    connect_s: f64,
    viewers: &(ViewerCounts, Disconnects),
    painters: &PainterSummary,
    cpu: sysstat::CpuUse,
    server_rss_mib: Option<f64>,
) -> Report {
    let histograms = latency::merged();
    let (v, viewer_disconnects) = viewers;
    let p = &painters.counts;
    let window_s = timeline.window_secs();
    let per_s = |n: u64| round3(n as f64 / window_s);
    // Painters running late stretch the sending span past the window: divide by the real span.
    let sending_s = window_s.max(p.last_send.saturating_sub(timeline.window_start) as f64 / 1e9);
    let tessera = ctx.codec == Codec::Tessera;
    let rejected: u64 = p.rejected.iter().sum();
    let rejected_by_reason: BTreeMap<&'static str, u64> = REJECT_REASONS
        .iter()
        .zip(p.rejected)
        .filter(|(_, n)| *n > 0)
        .map(|(reason, n)| (reason.as_str(), n))
        .collect();
    let (view_width, view_height) = ctx.scenario.viewport_size();
    let lag = percentiles(&histograms.send_lag);
    Report {
        version: format!(
            "tessera-load {} (protocol {})",
            env!("CARGO_PKG_VERSION"),
            tessera::protocol::PROTOCOL_VERSION
        ),
        scenario: ctx.scenario.kind(),
        protocol: ctx.codec,
        in_process: args.in_process,
        url: ctx.transport.describe(),
        board: ctx.board.id.clone(),
        board_width: ctx.board.geometry.width(),
        board_height: ctx.board.geometry.height(),
        tile_size: ctx.board.tile_size,
        tick_ms: tessera.then_some(ctx.board.tick_ms),
        viewport_width: view_width,
        viewport_height: view_height,
        zoom: (args.scenario != ScenarioKind::Overview).then_some(args.zoom),
        hot_region: ctx
            .scenario
            .hot_rect()
            .map(|r| [r.x, r.y, r.width, r.height]),
        pan_interval_ms: ctx.pan.map(|_| args.pan_interval_ms),
        pan_guard_ms: ctx.pan.map(|_| args.pan_guard_ms),
        seed: args.seed,
        duration_s: args.duration,
        warmup_s: args.warmup,
        window_s: round3(window_s),
        sessions_requested: args.sessions,
        sessions_connected: ready.connected,
        sessions_ready: ready.ready,
        connect_errors: ready.errors,
        first_connect_error: ready.first_error.clone(),
        connect_s: round3(connect_s),
        painters: args.painters,
        paint_rate_requested: args.paint_rate,
        paints_sent: p.sent_measured,
        paints_sent_total: p.sent_total,
        paints_per_s: round3(p.sent_measured as f64 / sending_s),
        send_lag_p99_ms: lag.map(|l| l.p99),
        send_lag_max_ms: lag.map(|l| l.max),
        paints_accepted: tessera.then_some(p.accepted),
        paints_rejected: tessera.then_some(rejected),
        rejected_by_reason,
        paint_results_unmatched: p.unmatched_results,
        ack_latency_ms: percentiles(&histograms.ack),
        latency_ms: percentiles(&histograms.delivery),
        deliveries_expected: p.expected,
        deliveries_received: v.received,
        deliveries_transitional: v.transitional,
        deliveries_warmup: v.warmup,
        missing: p.expected as i64 - v.received as i64,
        duplicates: ctx.dup_check.then_some(v.duplicates),
        unknown_updates: v.unknown,
        bad_frames: v.bad_frames + p.bad_frames,
        version_gaps: v.version_gaps,
        resyncs: v.resyncs,
        server_errors: v.server_errors + p.server_errors,
        disconnects: viewer_disconnects.clone(),
        painter_disconnects: painters.disconnects.clone(),
        viewport_moves: v.moves,
        deliveries_per_s: per_s(v.window_deliveries),
        frames_per_s: per_s(v.window_frames),
        bytes_per_s: per_s(v.window_bytes),
        server_pid: args.server_pid,
        server_rss_mib: server_rss_mib.map(round3),
        server_cpu_pct: cpu.server_pct().map(round3),
        server_user_cpu_pct: cpu.server_user_pct.map(round3),
        server_system_cpu_pct: cpu.server_system_pct.map(round3),
        tool_cpu_pct: cpu.tool_pct.map(round3),
        machine_busy_pct: cpu.machine_busy_pct.map(round3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hard_deadline_covers_ramp_painting_and_margins() {
        let args = <Args as clap::Parser>::parse_from([
            "tessera-load",
            "--sessions",
            "2000",
            "--connect-rate",
            "1000",
            "--painters",
            "0",
            "--duration",
            "10",
            "--warmup",
            "2",
            "--ready-timeout",
            "40",
        ]);
        let d = hard_deadline(&args);
        assert_eq!(d, Duration::from_secs(12 + 2 + 40) + DEADLINE_MARGIN);
    }
}
