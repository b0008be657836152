//! `spawn_app` and a websocket client that checks every update it receives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tessera::app::Application;
use tessera::protocol::{
    self, ClientMessage, PaintOutcome, PaintResult, ServerMessage, TileState, TileUpdate, Welcome,
};
use tessera::settings::{Settings, Sources};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Long enough for any message the server owes us on a loaded CI machine; only waits that are
/// expected to succeed use it, so it never slows a passing test.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How long to listen when asserting that nothing arrives: several ticks of 20 ms.
pub const QUIET: Duration = Duration::from_millis(300);

static TRACING: Once = Once::new();

/// Logs only on demand: `TEST_LOG=debug cargo test`.
fn init_tracing() {
    TRACING.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .init();
        }
    });
}

/// The `tessera` binary, run in `dir` (a fresh working directory: no `settings/local.toml`,
/// data under `dir/data`), with no `TESSERA__*` variables of the test's environment.
pub fn tessera_binary(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null());
    for (name, _) in std::env::vars() {
        if name.starts_with("TESSERA__") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// The URL `child` (started by [`tessera_binary`] with stdout piped) prints on its first line.
/// The pipe stays open (a server writing to a closed stdout would fail), and nothing past the
/// line is read, so it can be read on.
pub fn printed_url(child: &mut std::process::Child) -> String {
    use std::io::Read;
    let stdout = child.stdout.as_mut().expect("stdout is piped");
    let mut line = Vec::new();
    let mut byte = [0u8];
    while stdout.read(&mut byte).expect("read stdout") == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&line);
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned()
}

/// A running server on a random port with its own data directory.
pub struct TestApp {
    pub addr: SocketAddr,
    handle: tessera::app::StopHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Settings for tests: port 0, one worker and one tile arbiter, the given data dir, then `extra`
/// TOML layered on top.
pub fn test_settings(data_dir: &Path, extra: &str) -> Result<Settings, String> {
    let base = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\ntile_arbiters = 2\n[storage]\ndata_dir = {:?}\n",
        data_dir.display().to_string()
    );
    Settings::load(&Sources {
        local_file: false,
        config_file: None,
        overrides: vec![base, extra.to_owned()],
        env: vec![],
    })
    .map_err(|e| e.to_string())
}

/// A small board so tests stay fast: 256x256 in 64-pixel tiles (4x4 tiles).
pub const SMALL_BOARD: &str =
    "[[boards]]\nid = \"main\"\nwidth = 256\nheight = 256\ntile_size = 64\n";

pub async fn spawn_app(extra: &str) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app_in(dir.path(), extra)
        .await
        .expect("server starts");
    (app, dir)
}

/// Starts the real server (the production `Application::build`) on its own actix System thread.
pub async fn spawn_app_in(data_dir: &Path, extra: &str) -> Result<TestApp, String> {
    init_tracing();
    let settings = test_settings(data_dir, extra)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            match Application::build(settings) {
                Ok(app) => {
                    let _ = tx.send(Ok((app.local_addr(), app.stop_handle())));
                    app.run_until_stopped().await.expect("server runs");
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
            }
        });
    });
    let (addr, handle) = match rx.await.expect("server thread reports") {
        Ok(ok) => ok,
        Err(e) => {
            thread.join().expect("server thread ends");
            return Err(e);
        }
    };
    Ok(TestApp {
        addr,
        handle,
        thread: Some(thread),
    })
}

impl TestApp {
    pub fn http(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Graceful stop, as on SIGTERM: the final snapshot is written before this returns.
    pub async fn stop(mut self) {
        self.handle.stop().await;
        let thread = self.thread.take().expect("running");
        tokio::task::spawn_blocking(move || thread.join().expect("server thread ends"))
            .await
            .expect("joined");
    }

    pub async fn connect(&self) -> Client {
        Client::connect(&self.ws_url()).await
    }

    pub async fn sessions(&self) -> u64 {
        let body: serde_json::Value = reqwest::get(self.http("/healthz"))
            .await
            .expect("healthz")
            .json()
            .await
            .expect("json");
        body["sessions"].as_u64().expect("sessions count")
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A protocol client that keeps a copy of every tile it views and fails the test on any gap or
/// duplicate: an update must continue exactly from the version it holds.
pub struct Client {
    ws: Ws,
    pub welcome: Welcome,
    pub tiles: HashMap<(u16, u16), TileCopy>,
    pub results: Vec<PaintResult>,
    pub errors: Vec<(protocol::ErrorCode, String)>,
    pub updates_received: usize,
    pub states_received: usize,
    pub frames_received: usize,
    pub largest_frame: usize,
    /// The size of every frame received, in order.
    pub frame_sizes: Vec<usize>,
    /// Frames that carried updates of more than one tile.
    pub multi_tile_frames: usize,
    pub closed: Option<(u16, String)>,
}

#[derive(Debug, Clone)]
pub struct TileCopy {
    pub version: u64,
    pub width: u16,
    pub pixels: Vec<u8>,
}

impl TileCopy {
    pub fn pixel(&self, dx: u16, dy: u16) -> u8 {
        self.pixels[usize::from(dy) * usize::from(self.width) + usize::from(dx)]
    }
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        let mut client = Client {
            ws,
            welcome: Welcome {
                protocol_version: 0,
                session_id: 0,
                user_token: String::new(),
                limits: protocol::Limits {
                    tick_ms: 0,
                    max_message_bytes: 0,
                    max_viewport_area: 0,
                    max_messages_per_second: 0,
                },
                boards: vec![],
            },
            tiles: HashMap::new(),
            results: vec![],
            errors: vec![],
            updates_received: 0,
            states_received: 0,
            frames_received: 0,
            largest_frame: 0,
            frame_sizes: vec![],
            multi_tile_frames: 0,
            closed: None,
        };
        let first = client.next_frame(PATIENCE).await.expect("a welcome frame");
        assert!(
            matches!(first.first(), Some(ServerMessage::Welcome(_))),
            "first message must be Welcome: {first:?}"
        );
        client
    }

    pub async fn send(&mut self, msg: &ClientMessage) {
        self.send_raw(Message::Binary(protocol::encode_client(msg).into()))
            .await;
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.ws.send(msg).await.expect("send to server");
    }

    pub async fn view(&mut self, x: u32, y: u32, width: u32, height: u32) {
        self.send(&ClientMessage::SetViewport {
            board: 0,
            x,
            y,
            width,
            height,
        })
        .await;
    }

    pub async fn paint(&mut self, seq: u32, x: u32, y: u32, color: u8) {
        self.send(&ClientMessage::Paint {
            seq,
            board: 0,
            x,
            y,
            color,
        })
        .await;
    }

    /// Reads one websocket frame and applies every message in it. `None` on timeout or close.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<Vec<ServerMessage>> {
        loop {
            let msg = match tokio::time::timeout(wait, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => {
                    self.closed
                        .get_or_insert((1006, "connection dropped".into()));
                    return None;
                }
                Ok(Some(Ok(msg))) => msg,
            };
            match msg {
                Message::Binary(bytes) => {
                    let msgs = protocol::decode_server_frame(&bytes).expect("server frames decode");
                    self.frames_received += 1;
                    self.largest_frame = self.largest_frame.max(bytes.len());
                    self.frame_sizes.push(bytes.len());
                    self.apply(&msgs);
                    return Some(msgs);
                }
                Message::Close(frame) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| {
                        (u16::from(f.code), f.reason.to_string())
                    });
                    self.closed = Some((code, reason));
                    return None;
                }
                Message::Text(t) => panic!("the server never sends text frames: {t}"),
                _ => continue,
            }
        }
    }

    fn apply(&mut self, msgs: &[ServerMessage]) {
        let mut update_tiles = std::collections::HashSet::new();
        for msg in msgs {
            match msg {
                ServerMessage::TileState(TileState {
                    tx,
                    ty,
                    version,
                    width,
                    height,
                    pixels,
                    ..
                }) => {
                    assert_eq!(pixels.len(), usize::from(*width) * usize::from(*height));
                    self.states_received += 1;
                    self.tiles.insert(
                        (*tx, *ty),
                        TileCopy {
                            version: *version,
                            width: *width,
                            pixels: pixels.clone(),
                        },
                    );
                }
                ServerMessage::TileUpdate(TileUpdate {
                    tx,
                    ty,
                    base_version,
                    version,
                    changes,
                    ..
                }) => {
                    self.updates_received += 1;
                    update_tiles.insert((*tx, *ty));
                    let tile = self.tiles.get_mut(&(*tx, *ty)).unwrap_or_else(|| {
                        panic!("update for tile ({tx}, {ty}) which this client does not view")
                    });
                    assert_eq!(
                        tile.version, *base_version,
                        "update of tile ({tx}, {ty}) does not continue from the held version: gap or duplicate"
                    );
                    assert!(version > base_version);
                    for c in changes {
                        let i = usize::from(c.dy) * usize::from(tile.width) + usize::from(c.dx);
                        tile.pixels[i] = c.color;
                    }
                    tile.version = *version;
                }
                ServerMessage::PaintResult(r) => self.results.push(*r),
                ServerMessage::Error { code, message } => {
                    self.errors.push((*code, message.clone()))
                }
                ServerMessage::Welcome(w) => {
                    assert_eq!(self.frames_received, 1, "Welcome comes first and only once");
                    self.welcome = w.clone();
                }
            }
        }
        if update_tiles.len() > 1 {
            self.multi_tile_frames += 1;
        }
    }

    /// Reads frames until `done` holds, failing the test after [`PATIENCE`].
    pub async fn until(&mut self, what: &str, mut done: impl FnMut(&Client) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(self) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || (self.next_frame(left).await.is_none() && self.closed.is_some()) {
                if done(self) {
                    return;
                }
                panic!("gave up waiting for {what}; closed: {:?}", self.closed);
            }
        }
    }

    /// Reads everything that arrives within `wait` and returns the messages.
    pub async fn drain_for(&mut self, wait: Duration) -> Vec<ServerMessage> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut all = vec![];
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return all;
            }
            match self.next_frame(left).await {
                Some(msgs) => all.extend(msgs),
                None => return all,
            }
        }
    }

    pub async fn wait_for_tiles(&mut self, n: usize) {
        self.until(&format!("{n} tile states"), |c| c.tiles.len() >= n)
            .await;
    }

    pub async fn result_for(&mut self, seq: u32) -> PaintOutcome {
        self.until(&format!("paint result {seq}"), |c| {
            c.results.iter().any(|r| r.seq == seq)
        })
        .await;
        self.results
            .iter()
            .find(|r| r.seq == seq)
            .expect("present")
            .outcome
    }

    /// The colour of board pixel (x, y) in this client's copy, for a 64-pixel-tile board.
    pub fn pixel_at(&self, x: u32, y: u32, tile_size: u32) -> Option<u8> {
        let tile = self
            .tiles
            .get(&((x / tile_size) as u16, (y / tile_size) as u16))?;
        Some(tile.pixel((x % tile_size) as u16, (y % tile_size) as u16))
    }

    pub async fn wait_for_close(&mut self) -> (u16, String) {
        self.until("the server to close the connection", |c| c.closed.is_some())
            .await;
        self.closed.clone().expect("closed")
    }
}
