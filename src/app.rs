//! Assembles the server from settings: restores the canvas, binds the listener, wires the routes.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};

use actix::Addr;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};

use crate::canvas::supervisor::{Shutdown, StartError, Supervisor};
use crate::http::{self, AppState};
use crate::settings::Settings;

/// Seconds the HTTP server waits for open connections on shutdown before dropping them. Long
/// enough for in-flight HTTP paints to finish; websockets never end by themselves, so waiting
/// longer would only delay the final snapshot.
const SHUTDOWN_TIMEOUT_SECS: u64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A built, bound, not yet running server.
pub struct Application {
    addr: SocketAddr,
    stop: StopHandle,
    server: Server,
    supervisor: Addr<Supervisor>,
}

impl Application {
    /// Restores every board from disk and binds the listener. Must run inside an actix `System`.
    pub fn build(settings: Settings) -> Result<Self, BuildError> {
        let (canvas, supervisor) = Supervisor::start(&settings)?;
        let listen = settings.server.listen;
        let bind = |source| BuildError::Bind {
            addr: listen,
            source,
        };
        let listener = TcpListener::bind(listen).map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let workers = settings.server.workers;
        let max_connections = settings.limits.max_connections;
        let (shutdown_tx, shutting_down) = tokio::sync::watch::channel(false);
        let state = web::Data::new(AppState {
            canvas,
            settings: Arc::new(settings),
            connections: Arc::new(AtomicUsize::new(0)),
            next_session_id: AtomicU64::new(1),
            shutting_down,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(http::json_config())
                .app_data(http::path_config())
                .app_data(http::query_config())
                .configure(http::routes)
        })
        .workers(workers)
        // actix-web's own per-worker cap must not undercut ours; ours answers with a clear 503.
        .max_connections(max_connections.saturating_add(1024))
        // Frames are small and timed: with Nagle's algorithm a frame written while the previous
        // one is unacknowledged waits for that ACK, which the client may delay by up to 40 ms.
        .tcp_nodelay(true)
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        // actix-server stops the whole System on a signal, arbiters and tile actors included,
        // before the final snapshot could read them; `run_until_stopped` handles signals itself.
        .disable_signals()
        .listen(listener)
        .map_err(bind)?
        .run();
        let stop = StopHandle {
            server: server.handle(),
            sessions: Arc::new(shutdown_tx),
        };
        Ok(Self {
            addr,
            stop,
            server,
            supervisor,
        })
    }

    /// The address actually bound (the real port when the settings asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server gracefully from anywhere (tests; SIGINT/SIGTERM do the same).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Serves until stopped by SIGINT, SIGTERM or the handle, then writes the final snapshot.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stop = self.stop.clone();
        let signals = actix_web::rt::spawn(async move {
            let signal = wait_for_stop_signal().await;
            tracing::info!(signal, "stopping gracefully; a second signal exits at once");
            actix_web::rt::spawn(async move {
                let signal = wait_for_stop_signal().await;
                tracing::warn!(signal, "exiting without waiting for the final snapshot");
                std::process::exit(130);
            });
            stop.stop().await;
        });
        let served = self.server.await;
        signals.abort();
        tracing::info!("server stopped; writing final snapshot");
        match self.supervisor.send(Shutdown).await {
            Ok(report) if report.failures == 0 => {}
            Ok(report) => tracing::error!(failures = report.failures, "final snapshot incomplete"),
            Err(e) => tracing::error!(error = %e, "supervisor unavailable for the final snapshot"),
        }
        served
    }
}

/// Stops the server gracefully: sessions close with 1001, HTTP stops, the final snapshot follows.
#[derive(Clone)]
pub struct StopHandle {
    server: ServerHandle,
    sessions: Arc<tokio::sync::watch::Sender<bool>>,
}

/// Time given to sessions to send their close frames before the HTTP server drops connections.
const SESSION_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

impl StopHandle {
    pub async fn stop(&self) {
        self.sessions.send_replace(true);
        tokio::time::sleep(SESSION_CLOSE_GRACE).await;
        self.server.stop(true).await;
    }
}

/// Resolves on the first SIGINT or SIGTERM.
async fn wait_for_stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            _ => {
                tracing::warn!("cannot install signal handlers; stop with the server handle");
                std::future::pending().await
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
