//! `--in-process`: the server's canvas and session actors in this process, without sockets.
//!
//! The canvas is started exactly as the server starts it (`Supervisor::start` inside an actix
//! `System` on its own thread), and each connection is a real `Session<ChannelOutlet>` spread
//! over a few Arbiters: client frames go in as the websocket stream items the session normally
//! gets from actix-ws, its frames come out of the outlet's bounded channel. So the run measures
//! the actor core (tiles, fan-out, session batching) with everything else of the generator
//! unchanged.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use actix::{Actor, Arbiter, ArbiterHandle, AsyncContext, System};
use actix_ws::{AggregatedMessage, ProtocolError};
use anyhow::Context as _;
use bytes::Bytes;
use tessera::canvas::Canvas;
use tessera::canvas::supervisor::Supervisor;
use tessera::identity::UserToken;
use tessera::session::outlet::{ChannelOutlet, Outgoing};
use tessera::session::{ConnectionSlot, Session, SessionParts};
use tessera::settings::{LimitSettings, Settings, Sources};
use tokio::sync::{mpsc, watch};

use super::{Incoming, LinkClosed};

/// Frames a session may have on their way to its client, the part a socket's buffers play: a
/// client reading slower than that makes the session's writes wait, as a slow socket does.
const OUTLET_CAPACITY: usize = 64;
/// Client messages waiting for the session to read them; a full queue holds the sender back,
/// like a full socket.
const INLET_CAPACITY: usize = 1024;
/// The session closes a client it has not heard from for 45 s. The channel outlet swallows the
/// server's pings, so the client speaks (an unsolicited pong) every 15 s instead of answering.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// No snapshot during a run: the in-process mode measures the actor core, not the disk.
const SNAPSHOT_INTERVAL_SECS: u32 = 3600;
/// High enough that no client is ever rate limited: the run paces its own load.
const MAX_MESSAGES_PER_SECOND: u32 = 1_000_000;

/// The in-process server's board and tick.
#[derive(Debug, Clone, Copy)]
pub struct InProcessConfig {
    pub width: u32,
    pub height: u32,
    pub tile_size: u32,
    pub tick_ms: u32,
    /// Sessions the run will open (viewers, painters and the probe).
    pub max_sessions: usize,
}

pub struct InProcessServer {
    canvas: Arc<Canvas>,
    limits: LimitSettings,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
    open: Arc<AtomicUsize>,
    next_session_id: AtomicU64,
    shutting_down: watch::Receiver<bool>,
    /// Kept so sessions do not see the server as gone; never sent on (the run just ends).
    _shutdown: watch::Sender<bool>,
    system: System,
    data_dir: PathBuf,
}

impl InProcessServer {
    pub fn start(config: InProcessConfig) -> anyhow::Result<Arc<Self>> {
        let data_dir = std::env::temp_dir().join(format!(
            "tessera-load-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let settings = settings(&config, &data_dir)?;
        let limits = settings.limits.clone();
        let session_arbiters = settings.server.workers;
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("in-process-server".into())
            .spawn(move || {
                let runner = System::new();
                let started = runner.block_on(async {
                    let (canvas, supervisor) = Supervisor::start(&settings)?;
                    let arbiters: Vec<Arbiter> = (0..session_arbiters.max(1))
                        .map(|_| Arbiter::new())
                        .collect();
                    anyhow::Ok((canvas, supervisor, arbiters))
                });
                match started {
                    Ok((canvas, _supervisor, arbiters)) => {
                        let handles = arbiters.iter().map(Arbiter::handle).collect::<Vec<_>>();
                        let _ = started_tx.send(Ok((canvas, handles, System::current())));
                        // Runs until `stop`; the supervisor and arbiters live as long.
                        let _ = runner.run();
                    }
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                    }
                }
            })
            .context("starting the in-process server thread")?;
        let (canvas, arbiters, system) = started_rx
            .recv()
            .context("the in-process server thread ended before starting")?
            .context("starting the in-process canvas")?;
        let (shutdown, shutting_down) = watch::channel(false);
        Ok(Arc::new(Self {
            canvas,
            limits,
            arbiters,
            next_arbiter: AtomicUsize::new(0),
            open: Arc::new(AtomicUsize::new(0)),
            next_session_id: AtomicU64::new(1),
            shutting_down,
            _shutdown: shutdown,
            system,
            data_dir,
        }))
    }

    /// Starts a session actor and returns the client's end of it.
    pub fn connect(&self) -> Result<ChannelLink, String> {
        let slot = ConnectionSlot::try_acquire(&self.open, self.limits.max_connections)
            .ok_or_else(|| format!("all {} sessions are taken", self.limits.max_connections))?;
        let (to_session, inlet) = mpsc::channel(INLET_CAPACITY);
        let (outlet, from_session) = mpsc::channel(OUTLET_CAPACITY);
        let parts = SessionParts {
            id: self.next_session_id.fetch_add(1, Ordering::Relaxed),
            user: UserToken::generate(),
            canvas: Arc::clone(&self.canvas),
            limits: self.limits.clone(),
            ws: ChannelOutlet(outlet.clone()),
            slot,
            shutting_down: self.shutting_down.clone(),
        };
        let (session, welcome, mut writer) = Session::open(parts);
        // The welcome first, before the actor can answer anything; the channel is new and empty.
        let _ = outlet.try_send(Outgoing::Binary(welcome));
        let arbiter =
            &self.arbiters[self.next_arbiter.fetch_add(1, Ordering::Relaxed) % self.arbiters.len()];
        Session::start_in_arbiter(arbiter, move |ctx| {
            ctx.add_stream(futures_util::stream::unfold(
                inlet,
                |mut inlet: mpsc::Receiver<Result<AggregatedMessage, ProtocolError>>| async move {
                    inlet.recv().await.map(|item| (item, inlet))
                },
            ));
            session
        });
        // What the websocket's response body does in the server: the session's frames, pulled
        // on the write boundary, on the session's arbiter.
        arbiter.spawn(async move {
            // A slot first, then the frame: a frame taken before waiting for a slot could queue
            // behind the actor's close and arrive after it.
            while let Ok(slot) = outlet.reserve().await {
                match std::future::poll_fn(|cx| writer.poll_frame(cx)).await {
                    Some(frame) => slot.send(Outgoing::Binary(frame)),
                    None => return,
                }
            }
        });
        Ok(ChannelLink {
            to_session,
            from_session,
        })
    }

    /// Stops the actors and removes the temporary data directory.
    pub fn stop(&self) {
        self.system.stop();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server's own settings pipeline (embedded defaults + overrides), so every limit not set
/// here is the production default.
fn settings(config: &InProcessConfig, data_dir: &std::path::Path) -> anyhow::Result<Settings> {
    let area = u64::from(config.width) * u64::from(config.height);
    let overrides = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ntick_ms = {tick}\n\
         [storage]\ndata_dir = {dir:?}\nsnapshot_interval_secs = {SNAPSHOT_INTERVAL_SECS}\n\
         [limits]\nmax_connections = {conns}\nmax_messages_per_second = {MAX_MESSAGES_PER_SECOND}\n\
         max_viewport_area = {area}\n\
         [[boards]]\nid = \"main\"\nwidth = {w}\nheight = {h}\ntile_size = {ts}\n",
        tick = config.tick_ms,
        dir = data_dir.display().to_string(),
        conns = config.max_sessions,
        w = config.width,
        h = config.height,
        ts = config.tile_size,
    );
    Settings::load(&Sources {
        local_file: false,
        config_file: None,
        overrides: vec![overrides],
        env: vec![],
    })
    .context("in-process settings")
}

/// The client's end of an in-process session.
pub struct ChannelLink {
    to_session: mpsc::Sender<Result<AggregatedMessage, ProtocolError>>,
    from_session: mpsc::Receiver<Outgoing>,
}

impl ChannelLink {
    pub async fn send(&mut self, frame: Bytes) -> Result<(), LinkClosed> {
        self.to_session
            .send(Ok(AggregatedMessage::Binary(frame)))
            .await
            .map_err(|_| LinkClosed)
    }

    pub async fn recv(&mut self) -> Incoming {
        incoming(self.from_session.recv().await)
    }

    pub fn try_recv(&mut self) -> Option<Incoming> {
        match self.from_session.try_recv() {
            Ok(out) => Some(incoming(Some(out))),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(Incoming::Closed(None)),
        }
    }

    pub async fn keepalive(&mut self) -> Result<(), LinkClosed> {
        self.to_session
            .send(Ok(AggregatedMessage::Pong(Bytes::new())))
            .await
            .map_err(|_| LinkClosed)
    }
}

fn incoming(out: Option<Outgoing>) -> Incoming {
    match out {
        Some(Outgoing::Binary(frame)) => Incoming::Frame(frame),
        Some(Outgoing::Close(reason)) => Incoming::Closed(Some(u16::from(reason.code))),
        None => Incoming::Closed(None),
    }
}
