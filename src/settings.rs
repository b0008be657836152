//! Settings: layered sources (embedded defaults, `settings/local.toml`, `--config`, environment)
//! loaded into a typed tree and validated once, so the rest of the server trusts every value.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, File, FileFormat};
use serde::Deserialize;

use crate::geometry::BoardGeometry;
use crate::palette::{Palette, Rgb};

/// The committed defaults, compiled in so the binary runs with no files around it.
pub const EMBEDDED_DEFAULTS: &str = include_str!("../settings/default.toml");
/// Read from the working directory when present; git-ignored, for an operator's own changes.
pub const LOCAL_FILE: &str = "settings/local.toml";
/// Environment variables with this prefix override single keys: `TESSERA__SERVER__LISTEN`.
pub const ENV_PREFIX: &str = "TESSERA__";

/// A setting that was read but breaks its rule. The message names the key, the value and the rule.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("setting `{key}` = {value} is invalid: {rule}")]
    Invalid {
        key: String,
        value: String,
        rule: String,
    },
    #[error("settings could not be read: {0}")]
    Load(#[from] config::ConfigError),
}

fn invalid(key: impl Into<String>, value: impl ToString, rule: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key: key.into(),
        value: value.to_string(),
        rule: rule.into(),
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub storage: StorageSettings,
    pub limits: LimitSettings,
    pub boards: Vec<BoardSettings>,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// HTTP workers; already resolved from 0 to the core count.
    pub workers: usize,
    /// Arbiters for tile actors; already resolved from 0 to the core count.
    pub tile_arbiters: usize,
    pub tick: Duration,
    /// The most ticks a whole-board viewer waits for a frame (1 = every tick, always).
    pub whole_board_ticks: u32,
    /// Whole-board frames a second per board at one frame a tick, past which the feed forwards
    /// every few ticks (up to `whole_board_ticks`); 0 = always `whole_board_ticks`.
    pub whole_board_frames_per_s: u64,
    /// How often each board's overview pyramid takes in the tiles that changed.
    pub overview_refresh: Duration,
}

#[derive(Debug, Clone)]
pub struct StorageSettings {
    pub data_dir: PathBuf,
    pub snapshot_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct LimitSettings {
    pub max_connections: usize,
    pub max_message_bytes: usize,
    pub max_viewport_area: u64,
    pub session_queue_len: usize,
    pub max_messages_per_second: u32,
}

#[derive(Debug, Clone)]
pub struct BoardSettings {
    pub id: String,
    pub geometry: BoardGeometry,
    pub cooldown: Duration,
    pub background: u8,
    pub palette: Palette,
}

// The raw shapes the `config` crate deserialises into; `validate` turns them into the above.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    server: RawServer,
    storage: RawStorage,
    limits: RawLimits,
    boards: Vec<RawBoard>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: String,
    workers: usize,
    tile_arbiters: usize,
    tick_ms: u64,
    whole_board_ticks: u32,
    whole_board_frames_per_s: u64,
    overview_refresh_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    data_dir: PathBuf,
    snapshot_interval_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_connections: usize,
    max_message_bytes: usize,
    max_viewport_area: u64,
    session_queue_len: usize,
    max_messages_per_second: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoard {
    id: String,
    width: u32,
    height: u32,
    tile_size: u32,
    #[serde(default)]
    cooldown_secs: u32,
    #[serde(default = "default_background")]
    background: u8,
    #[serde(default = "default_palette")]
    palette: Vec<String>,
}

fn default_background() -> u8 {
    31
}

fn default_palette() -> Vec<String> {
    crate::palette::RPLACE_2022
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Where settings come from, lowest priority first.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// Read `settings/local.toml` from the working directory if it exists.
    pub local_file: bool,
    /// `--config FILE`: must exist.
    pub config_file: Option<PathBuf>,
    /// TOML text layered after the files (used by tests to set a temp dir and port 0).
    pub overrides: Vec<String>,
    /// `(name, value)` pairs; those starting with [`ENV_PREFIX`] override single keys.
    pub env: Vec<(String, String)>,
}

impl Sources {
    /// What `tessera` uses: defaults, local file, `--config`, then the process environment.
    pub fn for_process(config_file: Option<PathBuf>) -> Self {
        Self {
            local_file: true,
            config_file,
            overrides: Vec::new(),
            env: std::env::vars().collect(),
        }
    }
}

impl Settings {
    pub fn load(sources: &Sources) -> Result<Self, SettingsError> {
        let mut builder =
            Config::builder().add_source(File::from_str(EMBEDDED_DEFAULTS, FileFormat::Toml));
        if sources.local_file && Path::new(LOCAL_FILE).exists() {
            builder = builder.add_source(File::new(LOCAL_FILE, FileFormat::Toml));
        }
        if let Some(path) = &sources.config_file {
            if !path.exists() {
                return Err(invalid("--config", path.display(), "the file must exist"));
            }
            builder = builder.add_source(File::from(path.as_path()).format(FileFormat::Toml));
        }
        for text in &sources.overrides {
            builder = builder.add_source(File::from_str(text, FileFormat::Toml));
        }
        for (name, value) in &sources.env {
            if let Some(path) = env_key_to_path(name) {
                builder = builder.set_override(path, value.as_str())?;
            }
        }
        let raw: Raw = builder.build()?.try_deserialize()?;
        validate(raw)
    }
}

/// `TESSERA__BOARDS__0__TILE_SIZE` becomes `boards[0].tile_size`, the path syntax of `config`
/// (its own environment source cannot address array elements).
fn env_key_to_path(name: &str) -> Option<String> {
    let rest = name.strip_prefix(ENV_PREFIX)?;
    let mut path = String::new();
    for part in rest.split("__") {
        let part = part.to_ascii_lowercase();
        if part.is_empty() {
            return None;
        }
        if part.bytes().all(|b| b.is_ascii_digit()) && !path.is_empty() {
            path.push_str(&format!("[{part}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&part);
        }
    }
    Some(path)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn in_range<T: PartialOrd + ToString>(
    key: &str,
    value: T,
    lo: T,
    hi: T,
) -> Result<T, SettingsError> {
    if value < lo || value > hi {
        let rule = format!("must be between {} and {}", lo.to_string(), hi.to_string());
        return Err(invalid(key, value.to_string(), rule));
    }
    Ok(value)
}

fn validate(raw: Raw) -> Result<Settings, SettingsError> {
    let listen: SocketAddr = raw.server.listen.parse().map_err(|_| {
        invalid(
            "server.listen",
            format!("{:?}", raw.server.listen),
            "must be IP:PORT, e.g. 127.0.0.1:8080",
        )
    })?;
    let workers = in_range("server.workers", raw.server.workers, 0, 256)?;
    let tile_arbiters = in_range("server.tile_arbiters", raw.server.tile_arbiters, 0, 256)?;
    let tick_ms = in_range("server.tick_ms", raw.server.tick_ms, 1, 1000)?;
    let whole_board_ticks = in_range(
        "server.whole_board_ticks",
        raw.server.whole_board_ticks,
        1,
        50,
    )?;
    let whole_board_frames_per_s = in_range(
        "server.whole_board_frames_per_s",
        raw.server.whole_board_frames_per_s,
        0,
        100_000_000,
    )?;
    let overview_refresh_ms = in_range(
        "server.overview_refresh_ms",
        raw.server.overview_refresh_ms,
        100,
        60_000,
    )?;
    let server = ServerSettings {
        listen,
        workers: if workers == 0 { cores() } else { workers },
        tile_arbiters: if tile_arbiters == 0 {
            cores()
        } else {
            tile_arbiters
        },
        tick: Duration::from_millis(tick_ms),
        whole_board_ticks,
        whole_board_frames_per_s,
        overview_refresh: Duration::from_millis(overview_refresh_ms),
    };

    if raw.storage.data_dir.as_os_str().is_empty() {
        return Err(invalid("storage.data_dir", "\"\"", "must not be empty"));
    }
    let interval = in_range(
        "storage.snapshot_interval_secs",
        raw.storage.snapshot_interval_secs,
        1,
        3600,
    )?;
    let storage = StorageSettings {
        data_dir: raw.storage.data_dir,
        snapshot_interval: Duration::from_secs(interval),
    };

    let l = raw.limits;
    let limits = LimitSettings {
        max_connections: in_range("limits.max_connections", l.max_connections, 1, 1_000_000)?,
        max_message_bytes: in_range("limits.max_message_bytes", l.max_message_bytes, 16, 65_536)?,
        max_viewport_area: in_range("limits.max_viewport_area", l.max_viewport_area, 1, 1 << 32)?,
        session_queue_len: in_range("limits.session_queue_len", l.session_queue_len, 16, 65_536)?,
        max_messages_per_second: in_range(
            "limits.max_messages_per_second",
            l.max_messages_per_second,
            1,
            1_000_000,
        )?,
    };

    if raw.boards.is_empty() {
        return Err(invalid(
            "boards",
            "[]",
            "at least one [[boards]] entry is needed",
        ));
    }
    if raw.boards.len() > usize::from(u16::MAX) {
        return Err(invalid("boards", raw.boards.len(), "at most 65535 boards"));
    }
    let mut seen = HashSet::new();
    let mut boards = Vec::with_capacity(raw.boards.len());
    for (i, b) in raw.boards.into_iter().enumerate() {
        let key = |field: &str| format!("boards[{i}].{field}");
        let id_ok = (1..=32).contains(&b.id.len())
            && b.id
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_');
        if !id_ok {
            return Err(invalid(
                key("id"),
                format!("{:?}", b.id),
                "must be 1..=32 characters of a-z, 0-9, '-' and '_'",
            ));
        }
        if !seen.insert(b.id.clone()) {
            return Err(invalid(
                key("id"),
                format!("{:?}", b.id),
                "board ids must be unique",
            ));
        }
        let geometry = BoardGeometry::new(b.width, b.height, b.tile_size).map_err(|e| match e {
            crate::geometry::GeometryError::TileSize(t) => {
                invalid(key("tile_size"), t, e.to_string())
            }
            crate::geometry::GeometryError::BoardSize { .. } => {
                let field = if (1..=crate::geometry::MAX_BOARD_EDGE).contains(&b.width) {
                    "height"
                } else {
                    "width"
                };
                let value = if field == "width" { b.width } else { b.height };
                invalid(
                    key(field),
                    value,
                    format!("must be between 1 and {}", crate::geometry::MAX_BOARD_EDGE),
                )
            }
        })?;
        let colours = b
            .palette
            .iter()
            .enumerate()
            .map(|(j, s)| {
                s.parse::<Rgb>().map_err(|e| {
                    invalid(
                        format!("{}[{j}]", key("palette")),
                        format!("{s:?}"),
                        e.to_string(),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let palette = Palette::new(colours).map_err(|e| {
            invalid(
                key("palette"),
                format!("{} colours", b.palette.len()),
                e.to_string(),
            )
        })?;
        if usize::from(b.background) >= palette.len() {
            return Err(invalid(
                key("background"),
                b.background,
                format!("must be a palette index below {}", palette.len()),
            ));
        }
        let cooldown_secs = in_range(&key("cooldown_secs"), b.cooldown_secs, 0, 86_400)?;
        boards.push(BoardSettings {
            id: b.id,
            geometry,
            cooldown: Duration::from_secs(u64::from(cooldown_secs)),
            background: b.background,
            palette,
        });
    }
    Ok(Settings {
        server,
        storage,
        limits,
        boards,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(overrides: &[&str], env: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::load(&Sources {
            local_file: false,
            config_file: None,
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    #[test]
    fn embedded_defaults_are_valid() {
        let s = load_with(&[], &[]).unwrap();
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.boards.len(), 1);
        assert_eq!(s.boards[0].id, "main");
        assert_eq!(s.boards[0].geometry.tile_size(), 64);
        assert_eq!(s.boards[0].palette.len(), 32);
        assert_eq!(s.server.tick, Duration::from_millis(20));
    }

    #[test]
    fn environment_overrides_one_board_key() {
        let s = load_with(
            &[],
            &[
                ("TESSERA__BOARDS__0__TILE_SIZE", "128"),
                ("TESSERA__SERVER__TICK_MS", "50"),
            ],
        )
        .unwrap();
        assert_eq!(s.boards[0].geometry.tile_size(), 128);
        assert_eq!(
            s.boards[0].geometry.width(),
            2048,
            "the rest of the board is kept"
        );
        assert_eq!(s.server.tick, Duration::from_millis(50));
    }

    #[test]
    fn invalid_tile_size_names_key_value_and_rule() {
        let err = load_with(&[], &[("TESSERA__BOARDS__0__TILE_SIZE", "100")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("boards[0].tile_size"), "{err}");
        assert!(err.contains("100"), "{err}");
        assert!(err.contains("power of two"), "{err}");
    }

    #[test]
    fn toml_layers_replace_the_board_list() {
        let s = load_with(
            &["[[boards]]\nid = \"tiny\"\nwidth = 100\nheight = 50\ntile_size = 16\n"],
            &[],
        )
        .unwrap();
        assert_eq!(s.boards.len(), 1);
        assert_eq!(s.boards[0].id, "tiny");
        assert_eq!(s.boards[0].background, 31);
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("TESSERA__SERVER__LISTEN", "nowhere", "server.listen"),
            ("TESSERA__SERVER__TICK_MS", "0", "server.tick_ms"),
            (
                "TESSERA__BOARDS__0__BACKGROUND",
                "40",
                "boards[0].background",
            ),
            ("TESSERA__BOARDS__0__ID", "Main Board", "boards[0].id"),
            ("TESSERA__BOARDS__0__WIDTH", "0", "boards[0].width"),
            (
                "TESSERA__LIMITS__SESSION_QUEUE_LEN",
                "1",
                "limits.session_queue_len",
            ),
        ];
        for (name, value, key) in cases {
            let err = load_with(&[], &[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(key), "{name}={value}: {err}");
        }
    }

    #[test]
    fn whole_board_cadence_defaults_to_two_ticks_past_25000_frames_and_is_bounded() {
        let s = load_with(&[], &[]).unwrap();
        assert_eq!(s.server.whole_board_ticks, 2);
        assert_eq!(s.server.whole_board_frames_per_s, 25_000);
        let s = load_with(
            &[],
            &[
                ("TESSERA__SERVER__WHOLE_BOARD_TICKS", "1"),
                ("TESSERA__SERVER__WHOLE_BOARD_FRAMES_PER_S", "0"),
            ],
        )
        .unwrap();
        assert_eq!(
            (
                s.server.whole_board_ticks,
                s.server.whole_board_frames_per_s
            ),
            (1, 0)
        );
        for value in ["0", "51"] {
            let err = load_with(&[], &[("TESSERA__SERVER__WHOLE_BOARD_TICKS", value)])
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!(
                    "setting `server.whole_board_ticks` = {value} is invalid: must be between 1 and 50"
                )
            );
        }
        let err = load_with(
            &[],
            &[("TESSERA__SERVER__WHOLE_BOARD_FRAMES_PER_S", "100000001")],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "setting `server.whole_board_frames_per_s` = 100000001 is invalid: must be between 0 and 100000000"
        );
    }

    #[test]
    fn overview_refresh_defaults_to_a_second_and_is_bounded() {
        let s = load_with(&[], &[]).unwrap();
        assert_eq!(s.server.overview_refresh, Duration::from_millis(1000));
        let s = load_with(&["[server]\noverview_refresh_ms = 100\n"], &[]).unwrap();
        assert_eq!(s.server.overview_refresh, Duration::from_millis(100));
        for value in ["99", "60001", "0"] {
            let err = load_with(&[], &[("TESSERA__SERVER__OVERVIEW_REFRESH_MS", value)])
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!(
                    "setting `server.overview_refresh_ms` = {value} is invalid: must be between 100 and 60000"
                )
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = load_with(&["[server]\nlisten_addr = \"x\"\n"], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_addr"), "{err}");
    }
}
