//! One painter session: sends its share of the paints on schedule (paint `seq` is due at
//! `start + seq / rate` and belongs to painter `seq % painters`), records each send for the
//! viewers, adds the viewers it should reach to the expected deliveries, and matches the server's
//! `PaintResult`s. Painters never set a viewport.

use std::collections::VecDeque;
use std::sync::Arc;

use tessera::protocol::{PaintOutcome, RejectReason, ServerMessage, ServerMessageView};
use tokio::sync::watch;

use crate::codec::{self, Codec};
use crate::context::RunContext;
use crate::latency;
use crate::timeline::Timeline;
use crate::transport::{Incoming, Link, LinkClosed};

/// Most paints sent before one flush: bounds a catch-up burst of a painter that fell behind, so
/// it still reads its paint results in between.
const BATCH_MAX: usize = 256;
/// Most frames read per clock read (see the viewer's burst).
const BURST_MAX: usize = 64;

/// Every reject reason, in the report's order.
pub const REJECT_REASONS: [RejectReason; 6] = [
    RejectReason::Cooldown,
    RejectReason::UnknownBoard,
    RejectReason::OutOfBounds,
    RejectReason::InvalidColor,
    RejectReason::RateLimited,
    RejectReason::Unavailable,
];

fn reason_index(reason: RejectReason) -> usize {
    REJECT_REASONS
        .iter()
        .position(|r| *r == reason)
        .unwrap_or(REJECT_REASONS.len() - 1)
}

/// One painter's counters, published after every batch and burst.
#[derive(Debug, Default, Clone)]
pub struct PainterCounts {
    pub sent_total: u64,
    /// Measured paints sent.
    pub sent_measured: u64,
    /// Deliveries the measured paints should make: stably subscribed viewers of the tile at send
    /// time, minus those of paints the server rejected.
    pub expected: u64,
    pub accepted: u64,
    pub rejected: [u64; REJECT_REASONS.len()],
    /// `PaintResult`s for no paint in flight.
    pub unmatched_results: u64,
    pub bad_frames: u64,
    pub server_errors: u64,
    pub last_send: u64,
    /// Every paint sent and (for tessera) answered.
    pub done: bool,
    pub disconnect: Option<u16>,
}

/// A paint waiting for its `PaintResult`.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    seq: u32,
    sent: u64,
    /// Viewers added to `expected` for it (measured paints only).
    expected: u32,
    measured: bool,
}

pub struct PainterTask {
    pub ctx: Arc<RunContext>,
    /// This painter's number, `0..painters`.
    pub index: u64,
    pub link: Link,
    /// `None` until every viewer is ready; then when each paint is due.
    pub timeline: watch::Receiver<Option<Timeline>>,
    pub counts: Arc<parking_lot::Mutex<PainterCounts>>,
    /// Becomes true when the run is over.
    pub stop: watch::Receiver<bool>,
}

pub async fn run(task: PainterTask) {
    let PainterTask {
        ctx,
        index,
        mut link,
        timeline,
        counts,
        mut stop,
    } = task;
    let Some(timeline) = await_start(&mut link, timeline, &mut stop, &counts).await else {
        return;
    };
    let mut painter = Painter {
        seq: index,
        ctx,
        link,
        timeline,
        shared: counts,
        counts: PainterCounts::default(),
        in_flight: VecDeque::new(),
        lags: Vec::with_capacity(BATCH_MAX),
    };
    let clock = painter.ctx.clock;
    let timer = tokio::time::sleep_until(clock.at(timeline.due(painter.seq)));
    tokio::pin!(timer);
    loop {
        let sending = painter.seq < painter.ctx.total;
        tokio::select! {
            _ = stop.changed() => break,
            () = &mut timer, if sending => {
                if painter.send_due().await.is_err() {
                    painter.counts.disconnect = Some(crate::viewer::ABNORMAL_CLOSURE);
                    painter.publish();
                    break;
                }
                timer.as_mut().reset(clock.at(timeline.due(painter.seq)));
            }
            incoming = painter.link.recv() => {
                if let Some(code) = painter.on_burst(incoming) {
                    painter.counts.disconnect = Some(code.unwrap_or(crate::viewer::ABNORMAL_CLOSURE));
                    painter.publish();
                    break;
                }
            }
        }
        painter.publish();
    }
}

/// Waits for the start of painting while reading the connection: that answers the server's
/// pings, without which it closes a client after 45 s of silence, and thousands of viewers can
/// take longer than that to load their first states. Returns `None` if the run stops or the
/// connection ends first (recorded as this painter's disconnect).
async fn await_start(
    link: &mut Link,
    mut timeline: watch::Receiver<Option<Timeline>>,
    stop: &mut watch::Receiver<bool>,
    counts: &parking_lot::Mutex<PainterCounts>,
) -> Option<Timeline> {
    loop {
        if let Some(timeline) = *timeline.borrow_and_update() {
            return Some(timeline);
        }
        tokio::select! {
            changed = timeline.changed() => changed.ok()?,
            _ = stop.changed() => return None,
            // Nothing the server sends before the first paint concerns the painter.
            incoming = link.recv() => if let Incoming::Closed(code) = incoming {
                counts.lock().disconnect = Some(code.unwrap_or(crate::viewer::ABNORMAL_CLOSURE));
                return None;
            },
        }
    }
}

struct Painter {
    ctx: Arc<RunContext>,
    link: Link,
    timeline: Timeline,
    /// The next paint this painter sends.
    seq: u64,
    shared: Arc<parking_lot::Mutex<PainterCounts>>,
    counts: PainterCounts,
    in_flight: VecDeque<InFlight>,
    /// Send lags of the current batch, recorded after it (no lock across an await).
    lags: Vec<u64>,
}

impl Painter {
    /// Sends every paint now due (up to a batch), then flushes.
    async fn send_due(&mut self) -> Result<(), LinkClosed> {
        let ctx = Arc::clone(&self.ctx);
        let mut now = ctx.clock.now_ns();
        let mut batch = 0;
        while self.seq < ctx.total && self.timeline.due(self.seq) <= now && batch < BATCH_MAX {
            let seq = self.seq;
            let px = ctx.plan.paint(seq);
            let tile = ctx
                .tile_of(px.x, px.y)
                .expect("the plan paints only pixels of the board");
            // Read the subscribers and log the send before the paint leaves, so a viewer that
            // receives it always finds it, counted or not.
            let (generation, viewers) = ctx.counts.snapshot(tile);
            ctx.sends.record(seq, now, generation);
            let measured = ctx.is_measured(seq);
            if measured {
                self.counts.expected += u64::from(viewers);
                self.counts.sent_measured += 1;
                self.lags.push(now - self.timeline.due(seq));
            }
            self.link
                .send(ctx.codec.paint(seq, ctx.board.index, px))
                .await?;
            if ctx.codec == Codec::Tessera {
                self.in_flight.push_back(InFlight {
                    seq: seq as u32,
                    sent: now,
                    expected: if measured { viewers } else { 0 },
                    measured,
                });
            }
            self.counts.sent_total += 1;
            self.counts.last_send = now;
            self.seq += ctx.painters;
            batch += 1;
            now = ctx.clock.now_ns();
        }
        let lags = std::mem::take(&mut self.lags);
        latency::record(|h| {
            for &lag in &lags {
                h.send_lag.saturating_record(lag / 1_000);
            }
        });
        self.lags = lags;
        self.lags.clear();
        self.link.flush().await
    }

    /// Handles `first` and whatever else is readable. `Some(code)` if the connection ended.
    fn on_burst(&mut self, first: Incoming) -> Option<Option<u16>> {
        let mut frames = Vec::new();
        let (bad, closed) = self.link.drain_burst(first, &mut frames, BURST_MAX);
        self.counts.bad_frames += bad;
        // The raw server sends painters every paint too; they are only drained.
        if self.ctx.codec == Codec::Tessera {
            let now = self.ctx.clock.now_ns();
            latency::record(|h| {
                for frame in &frames {
                    for message in codec::tessera::read(frame) {
                        match message {
                            Ok(ServerMessageView::Other(message)) => {
                                self.on_message(*message, now, &mut h.ack)
                            }
                            // Painters have no viewport: tiles do not concern them.
                            Ok(_) => {}
                            Err(_) => self.counts.bad_frames += 1,
                        }
                    }
                }
            });
        }
        closed
    }

    fn on_message(
        &mut self,
        message: ServerMessage,
        now: u64,
        acks: &mut hdrhistogram::Histogram<u64>,
    ) {
        match message {
            ServerMessage::PaintResult(result) => {
                // Results come back in the order the paints were sent, so this is the front.
                let Some(pos) = self.in_flight.iter().position(|f| f.seq == result.seq) else {
                    self.counts.unmatched_results += 1;
                    return;
                };
                let Some(paint) = self.in_flight.remove(pos) else {
                    return;
                };
                if paint.measured {
                    acks.saturating_record(now.saturating_sub(paint.sent) / 1_000);
                }
                match result.outcome {
                    PaintOutcome::Accepted => self.counts.accepted += 1,
                    PaintOutcome::Rejected { reason, .. } => {
                        self.counts.rejected[reason_index(reason)] += 1;
                        // Not applied: nobody will receive it.
                        self.counts.expected -= u64::from(paint.expected);
                    }
                }
            }
            ServerMessage::Error { .. } => self.counts.server_errors += 1,
            // Painters have no viewport, so nothing else concerns them.
            _ => {}
        }
    }

    fn publish(&mut self) {
        self.counts.done = self.seq >= self.ctx.total && self.in_flight.is_empty();
        *self.shared.lock() = self.counts.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A painter waiting for the viewers answers the server's pings (the server closes a silent
    /// client after 45 s), and starts once the timeline is set. Fails if the wait does not read
    /// the connection: the ping then stays unanswered.
    #[tokio::test]
    async fn a_waiting_painter_answers_pings_and_starts_with_the_timeline() {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(socket).await.unwrap();
            ws.send(Message::Ping(b"alive?".to_vec().into()))
                .await
                .unwrap();
            loop {
                match tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await {
                    // The connection is handed back, so that it stays open.
                    Ok(Some(Ok(Message::Pong(payload)))) => return (payload.to_vec(), ws),
                    Ok(Some(Ok(_))) => continue,
                    other => panic!("no pong from the waiting painter: {other:?}"),
                }
            }
        });
        let mut link = Link::Ws(Box::new(crate::transport::ws::connect(&url).await.unwrap()));
        let (start, timeline) = watch::channel(None);
        let (_stop, mut stop_rx) = watch::channel(false);
        let counts = parking_lot::Mutex::new(PainterCounts::default());
        let waiting = await_start(&mut link, timeline, &mut stop_rx, &counts);
        let starting = async {
            let (pong, ws) = server.await.unwrap();
            assert_eq!(pong, b"alive?");
            start.send(Some(Timeline::new(7, 100, 0, 10))).unwrap();
            ws
        };
        let (started, _ws) = tokio::join!(waiting, starting);
        assert_eq!(
            started.map(|t| t.due(0)),
            Some(Timeline::new(7, 100, 0, 10).due(0))
        );
        assert_eq!(counts.lock().disconnect, None);
    }

    #[test]
    fn every_reject_reason_has_its_own_slot() {
        for (i, reason) in REJECT_REASONS.iter().enumerate() {
            assert_eq!(reason_index(*reason), i);
        }
    }
}
