//! Command-line flags of `tessera-load`, their defaults and their validation.

use std::net::IpAddr;

use clap::Parser;
use http::Uri;

use tessera::settings::{Settings, Sources};

use crate::codec::Codec;
use crate::scenario::ScenarioKind;

pub const DEFAULT_URL: &str = "ws://127.0.0.1:8080/ws";
/// `--protocol raw` board when not given: `wsprobe limit-server` has no board of its own.
const RAW_DEFAULT_EDGE: u32 = 1000;
/// The tick `--protocol raw` assumes: the one `benches/load_matrix.sh` gives `limit-server`.
pub const RAW_TICK_MS: u32 = 20;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "tessera-load",
    version,
    about = "Load generator for tessera: N viewer and K painter sessions over loopback websockets \
             (or in-process session actors); reports delivery, latency and CPU."
)]
pub struct Args {
    /// Server websocket URL; loopback hosts only
    #[arg(long, default_value = DEFAULT_URL)]
    pub url: String,
    /// Viewer sessions (they never paint)
    #[arg(long, default_value_t = 100)]
    pub sessions: usize,
    /// Painter sessions (they never set a viewport)
    #[arg(long, default_value_t = 10)]
    pub painters: usize,
    /// Paints per second, all painters together, paced evenly
    #[arg(long, default_value_t = 1000)]
    pub paint_rate: u64,
    /// New viewer connections per second while ramping up
    #[arg(long, default_value_t = 2000)]
    pub connect_rate: u64,
    /// What viewers look at and where paints land
    #[arg(long, value_enum, default_value_t = ScenarioKind::Uniform)]
    pub scenario: ScenarioKind,
    /// Screen pixels per board pixel: a 1920x1080 screen shows ceil(1920/Z) x ceil(1080/Z)
    /// board pixels
    #[arg(long, default_value_t = 1.0)]
    pub zoom: f64,
    /// pan: each viewer moves its viewport this often
    #[arg(long, default_value_t = 3000)]
    pub pan_interval_ms: u64,
    /// pan: tiles count as stably subscribed only from this long after the move that adds them
    /// until this long before the move that removes them
    #[arg(long, default_value_t = 1000)]
    pub pan_guard_ms: u64,
    /// Board id (default: the server's first board)
    #[arg(long)]
    pub board: Option<String>,
    /// Measured seconds
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of painting before the measured window
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Seconds viewers get, after the last one was started, to connect and receive their first
    /// viewport's tile states; painting starts then, ready or not (the report counts the ready)
    #[arg(long, default_value_t = 15.0)]
    pub ready_timeout: f64,
    /// Seeds viewports, the hot region and the paint order
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print one JSON object on stdout instead of a table
    #[arg(long)]
    pub json: bool,
    /// The server's process id, to report its CPU and memory over the window
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// tessera, or raw 9-byte records for `wsprobe limit-server`
    #[arg(long, value_enum, default_value_t = Codec::Tessera)]
    pub protocol: Codec,
    /// Drive session actors in this process through channels instead of sockets
    #[arg(long)]
    pub in_process: bool,
    /// --in-process: the batching tick [default: the server's, 20]
    #[arg(long)]
    pub tick_ms: Option<u32>,
    /// --in-process: the tile size [default: the server's, 64]
    #[arg(long)]
    pub tile_size: Option<u32>,
    /// --in-process or raw: board width [default: the server's 2048 in-process, 1000 raw]
    #[arg(long)]
    pub board_width: Option<u32>,
    /// --in-process or raw: board height [default: the server's 2048 in-process, 1000 raw]
    #[arg(long)]
    pub board_height: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Invalid(String),
    #[error("--url {url}: {reason}")]
    Url { url: String, reason: String },
    #[error(
        "--url host {host} is not a loopback address: tessera-load only loads servers on this machine"
    )]
    NotLoopback { host: String },
}

fn invalid(message: impl Into<String>) -> Result<(), CliError> {
    Err(CliError::Invalid(message.into()))
}

impl Args {
    pub fn validate(&self) -> Result<(), CliError> {
        if self.sessions == 0 || self.painters == 0 {
            return invalid("--sessions and --painters must be at least 1");
        }
        if self.paint_rate == 0 || self.connect_rate == 0 {
            return invalid("--paint-rate and --connect-rate must be at least 1 per second");
        }
        if !(self.duration.is_finite() && self.duration > 0.0) {
            return invalid(format!(
                "--duration must be positive, not {}",
                self.duration
            ));
        }
        if !(self.warmup.is_finite() && self.warmup >= 0.0) {
            return invalid(format!("--warmup must be 0 or more, not {}", self.warmup));
        }
        // At least the time a viewer's connection may take, so a slow connect is never cut off.
        let open = crate::transport::OPEN_TIMEOUT.as_secs_f64();
        if !(self.ready_timeout.is_finite() && self.ready_timeout >= open) {
            return invalid(format!(
                "--ready-timeout must be at least {open} seconds, not {}",
                self.ready_timeout
            ));
        }
        if !(self.zoom.is_finite() && self.zoom > 0.0) {
            return invalid(format!("--zoom must be positive, not {}", self.zoom));
        }
        if self.pan_interval_ms == 0 || self.pan_guard_ms >= self.pan_interval_ms {
            return invalid(format!(
                "--pan-guard-ms ({}) must be shorter than --pan-interval-ms ({}), which must be positive",
                self.pan_guard_ms, self.pan_interval_ms
            ));
        }
        let (warm, total) = self.paint_counts();
        if total == warm {
            return invalid("--paint-rate x --duration must be at least one paint");
        }
        if total > u64::from(u32::MAX) {
            return invalid(format!(
                "{total} paints exceed the protocol's 32-bit paint numbers; shorten the run"
            ));
        }
        if self.in_process && self.protocol == Codec::Raw {
            return invalid("--in-process drives tessera's session actors: use --protocol tessera");
        }
        if !self.in_process && (self.tick_ms.is_some() || self.tile_size.is_some()) {
            return invalid(
                "--tick-ms and --tile-size configure the --in-process server; a running server has its own",
            );
        }
        if !self.in_process
            && self.protocol == Codec::Tessera
            && (self.board_width.is_some() || self.board_height.is_some())
        {
            return invalid(
                "--board-width/--board-height apply to --in-process and --protocol raw; a tessera server describes its boards in its Welcome",
            );
        }
        if self.protocol == Codec::Raw && self.board.is_some() {
            return invalid("--board names a tessera board; the raw protocol has none");
        }
        if !self.in_process {
            check_loopback(&self.url)?;
        }
        Ok(())
    }

    /// `(warm, total)`: paints `0..warm` are warm-up, `warm..total` measured.
    pub fn paint_counts(&self) -> (u64, u64) {
        let rate = self.paint_rate as f64;
        let warm = (rate * self.warmup).round() as u64;
        (warm, warm + (rate * self.duration).round() as u64)
    }

    /// Board size for `raw` and `--in-process`.
    pub fn board_size(&self) -> (u32, u32) {
        let (width, height) = if self.in_process {
            let board = &server_defaults().boards[0].geometry;
            (board.width(), board.height())
        } else {
            (RAW_DEFAULT_EDGE, RAW_DEFAULT_EDGE)
        };
        (
            self.board_width.unwrap_or(width),
            self.board_height.unwrap_or(height),
        )
    }

    pub fn in_process_tile_size(&self) -> u32 {
        self.tile_size
            .unwrap_or_else(|| server_defaults().boards[0].geometry.tile_size())
    }

    pub fn in_process_tick_ms(&self) -> u32 {
        self.tick_ms.unwrap_or_else(|| {
            u32::try_from(server_defaults().server.tick.as_millis()).unwrap_or(u32::MAX)
        })
    }
}

/// The server's embedded defaults (`settings/default.toml`): what `--in-process` runs when a
/// flag is not given, as `cargo run --release` would.
fn server_defaults() -> Settings {
    Settings::load(&Sources {
        local_file: false,
        config_file: None,
        overrides: vec![],
        env: vec![],
    })
    .expect("the embedded default settings are valid (tested by the settings module)")
}

/// Refuses any URL that is not `ws://` to a loopback host.
pub fn check_loopback(url: &str) -> Result<(), CliError> {
    let bad = |reason: &str| CliError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("ws") {
        return Err(bad("must start with ws://"));
    }
    let host = uri.host().ok_or_else(|| bad("has no host"))?;
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>();
    if host.eq_ignore_ascii_case("localhost") || ip.is_ok_and(|ip| ip.is_loopback()) {
        Ok(())
    } else {
        Err(CliError::NotLoopback {
            host: host.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["tessera-load"];
        argv.extend_from_slice(extra);
        Args::parse_from(argv)
    }

    #[test]
    fn only_loopback_urls_are_accepted() {
        for ok in [
            "ws://127.0.0.1:8080/ws",
            "ws://localhost/ws",
            "ws://[::1]:9001/",
            "ws://127.3.4.5:1/",
        ] {
            assert!(check_loopback(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ws://10.0.0.1:8080/ws",
            "ws://example.com/ws",
            "wss://127.0.0.1/ws",
            "http://127.0.0.1/",
            "nonsense",
        ] {
            assert!(check_loopback(bad).is_err(), "{bad}");
        }
        let e = args(&["--url", "ws://192.168.1.2:80/ws"])
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("not a loopback"), "{e}");
    }

    #[test]
    fn in_process_settings_need_in_process() {
        assert!(args(&["--tick-ms", "10"]).validate().is_err());
        assert!(
            args(&["--in-process", "--tick-ms", "10"])
                .validate()
                .is_ok()
        );
        assert!(
            args(&["--in-process", "--protocol", "raw"])
                .validate()
                .is_err()
        );
        assert!(args(&["--board-width", "10"]).validate().is_err());
        assert!(
            args(&["--protocol", "raw", "--board-width", "10"])
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn paint_counts_split_warm_up_from_the_window() {
        let a = args(&["--paint-rate", "500", "--warmup", "1", "--duration", "2"]);
        assert_eq!(a.paint_counts(), (500, 1500));
        assert!(args(&["--pan-guard-ms", "3000"]).validate().is_err());
        assert_eq!(args(&["--protocol", "raw"]).board_size(), (1000, 1000));
        assert_eq!(args(&["--in-process"]).board_size(), (2048, 2048));
    }

    #[test]
    fn the_ready_wait_covers_the_connect_timeout() {
        assert_eq!(args(&[]).ready_timeout, 15.0);
        assert!(args(&["--ready-timeout", "60"]).validate().is_ok());
        let err = args(&["--ready-timeout", "5"]).validate().unwrap_err();
        assert!(err.to_string().contains("--ready-timeout"), "{err}");
        assert!(args(&["--ready-timeout", "NaN"]).validate().is_err());
    }
}
