//! Golden vectors: the exact bytes of a fixed set of protocol messages, pinned in `tests/golden/`.
//!
//! Each vector is `tests/golden/<name>.hex` (lowercase hex; whitespace is ignored when reading)
//! and `tests/golden/manifest.json` describes each one as the JavaScript object
//! `assets/protocol.js` must decode it to or encode it from, plus every enum's variant names in
//! tag order. The same bytes are the worked examples of `docs/protocol.md`.
//!
//! A normal run FAILS on any difference between the encoder and the checked-in files. After an
//! intentional change of the wire format, regenerate the files with
//!
//! ```text
//! TESSERA_BLESS=1 cargo test --test golden_vectors
//! ```
//!
//! then review the diff, bump `PROTOCOL_VERSION` if the bytes of an existing message changed,
//! and update the examples in `docs/protocol.md` (checked here too) and `assets/protocol.js`.
//! Blessing never touches the documentation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};
use tessera::palette::Palette;
use tessera::protocol::*;

/// Set to `1` to rewrite the golden files from the encoder instead of comparing with them.
const BLESS_VAR: &str = "TESSERA_BLESS";

/// One pinned message, or a pinned frame of several server messages.
enum Message {
    Client(ClientMessage),
    Server(Vec<ServerMessage>),
}

struct Vector {
    name: &'static str,
    message: Message,
}

impl Message {
    fn encode(&self) -> Vec<u8> {
        match self {
            Message::Client(msg) => encode_client(msg),
            Message::Server(msgs) => {
                let mut frame = Vec::new();
                for msg in msgs {
                    encode_server_into(msg, &mut frame);
                }
                frame
            }
        }
    }

    /// The manifest entry: the objects `assets/protocol.js` works with.
    fn describe(&self) -> Value {
        match self {
            Message::Client(msg) => {
                json!({ "direction": "client", "message": describe_client(msg) })
            }
            Message::Server(msgs) => json!({
                "direction": "server",
                "messages": msgs.iter().map(describe_server).collect::<Vec<_>>(),
            }),
        }
    }
}

fn describe_client(msg: &ClientMessage) -> Value {
    match *msg {
        ClientMessage::SetViewport {
            board,
            x,
            y,
            width,
            height,
        } => {
            json!({ "type": "SetViewport", "board": board, "x": x, "y": y, "width": width, "height": height })
        }
        ClientMessage::Paint {
            seq,
            board,
            x,
            y,
            color,
        } => {
            json!({ "type": "Paint", "seq": seq, "board": board, "x": x, "y": y, "color": color })
        }
    }
}

fn describe_server(msg: &ServerMessage) -> Value {
    match msg {
        ServerMessage::Welcome(w) => json!({
            "type": "Welcome",
            "protocolVersion": w.protocol_version,
            "sessionId": w.session_id,
            "userToken": w.user_token,
            "limits": {
                "tickMs": w.limits.tick_ms,
                "maxMessageBytes": w.limits.max_message_bytes,
                "maxViewportArea": w.limits.max_viewport_area,
                "maxMessagesPerSecond": w.limits.max_messages_per_second,
            },
            "boards": w.boards.iter().map(|b| json!({
                "id": b.id,
                "width": b.width,
                "height": b.height,
                "tileSize": b.tile_size,
                "cooldownMs": b.cooldown_ms,
                "background": b.background,
                "palette": b.palette,
            })).collect::<Vec<_>>(),
        }),
        ServerMessage::TileState(t) => json!({
            "type": "TileState",
            "board": t.board,
            "tx": t.tx,
            "ty": t.ty,
            "version": t.version,
            "width": t.width,
            "height": t.height,
            "pixels": t.pixels,
        }),
        ServerMessage::TileUpdate(u) => json!({
            "type": "TileUpdate",
            "board": u.board,
            "tx": u.tx,
            "ty": u.ty,
            "baseVersion": u.base_version,
            "version": u.version,
            "changes": u.changes.iter()
                .map(|c| json!({ "dx": c.dx, "dy": c.dy, "color": c.color }))
                .collect::<Vec<_>>(),
        }),
        ServerMessage::PaintResult(r) => {
            let outcome = match r.outcome {
                PaintOutcome::Accepted => json!({ "type": "Accepted" }),
                PaintOutcome::Rejected {
                    reason,
                    retry_after_ms,
                } => json!({
                    "type": "Rejected",
                    "reason": variant_name(&reason),
                    "retryAfterMs": retry_after_ms,
                }),
            };
            json!({ "type": "PaintResult", "seq": r.seq, "outcome": outcome })
        }
        ServerMessage::Error { code, message } => {
            json!({ "type": "Error", "code": variant_name(code), "message": message })
        }
    }
}

/// A variant's name: the leading identifier of its derived `Debug` form.
fn variant_name(value: &impl std::fmt::Debug) -> String {
    format!("{value:?}")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn rejected(seq: u32, reason: RejectReason, retry_after_ms: u32) -> Message {
    let outcome = PaintOutcome::Rejected {
        reason,
        retry_after_ms,
    };
    Message::Server(vec![ServerMessage::PaintResult(PaintResult {
        seq,
        outcome,
    })])
}

fn error(code: ErrorCode, message: &str) -> Message {
    Message::Server(vec![ServerMessage::Error {
        code,
        message: message.to_owned(),
    }])
}

/// The 4x2 partial edge tile (6, 4) of a 100x66 board with tile size 16.
fn tile_update() -> ServerMessage {
    ServerMessage::TileUpdate(TileUpdate {
        board: 0,
        tx: 6,
        ty: 4,
        base_version: 5,
        version: 7,
        changes: vec![
            PixelChange {
                dx: 3,
                dy: 0,
                color: 27,
            },
            PixelChange {
                dx: 0,
                dy: 1,
                color: 2,
            },
        ],
    })
}

/// The pinned set. Names are file names: keep them stable.
fn build_vectors() -> Vec<Vector> {
    let v = |name, message| Vector { name, message };
    let palette = Palette::rplace_2022()
        .colours()
        .iter()
        .map(|c| c.0)
        .collect();
    vec![
        v(
            "client_set_viewport",
            Message::Client(ClientMessage::SetViewport {
                board: 0,
                x: 960,
                y: 1000,
                width: 1280,
                height: 720,
            }),
        ),
        v(
            "client_set_viewport_unsubscribe",
            Message::Client(ClientMessage::SetViewport {
                board: 0,
                x: 0,
                y: 0,
                width: 0,
                height: 0,
            }),
        ),
        v(
            "client_paint",
            Message::Client(ClientMessage::Paint {
                seq: 7,
                board: 0,
                x: 1030,
                y: 515,
                color: 2,
            }),
        ),
        v(
            "server_welcome",
            Message::Server(vec![ServerMessage::Welcome(Welcome {
                protocol_version: PROTOCOL_VERSION,
                session_id: 42,
                user_token: "3f9c1a7e5b2d48f6a0c4e8b1d7f29a63".to_owned(),
                limits: Limits {
                    tick_ms: 20,
                    max_message_bytes: 1024,
                    max_viewport_area: 4_194_304,
                    max_messages_per_second: 1000,
                },
                boards: vec![BoardInfo {
                    id: "main".to_owned(),
                    width: 2048,
                    height: 2048,
                    tile_size: 64,
                    cooldown_ms: 0,
                    background: 31,
                    palette,
                }],
            })]),
        ),
        v(
            "server_tile_state",
            Message::Server(vec![ServerMessage::TileState(TileState {
                board: 0,
                tx: 6,
                ty: 4,
                version: 5,
                width: 4,
                height: 2,
                pixels: vec![31, 31, 31, 2, 31, 27, 27, 31],
            })]),
        ),
        v("server_tile_update", Message::Server(vec![tile_update()])),
        v(
            "server_paint_result_accepted",
            Message::Server(vec![ServerMessage::PaintResult(PaintResult {
                seq: 7,
                outcome: PaintOutcome::Accepted,
            })]),
        ),
        v(
            "server_paint_result_cooldown",
            rejected(8, RejectReason::Cooldown, 1500),
        ),
        v(
            "server_paint_result_unknown_board",
            rejected(9, RejectReason::UnknownBoard, 0),
        ),
        v(
            "server_paint_result_out_of_bounds",
            rejected(10, RejectReason::OutOfBounds, 0),
        ),
        v(
            "server_paint_result_invalid_color",
            rejected(11, RejectReason::InvalidColor, 0),
        ),
        v(
            "server_paint_result_rate_limited",
            rejected(12, RejectReason::RateLimited, 3),
        ),
        v(
            "server_paint_result_unavailable",
            rejected(13, RejectReason::Unavailable, 0),
        ),
        v(
            "server_error_malformed",
            error(
                ErrorCode::Malformed,
                "malformed message: unexpected end of input",
            ),
        ),
        // Not ASCII on purpose: lengths count UTF-8 bytes (the dash is 3), not characters.
        v(
            "server_error_text_frame",
            error(ErrorCode::TextFrame, "binary frames only — see docs"),
        ),
        v(
            "server_error_unknown_board",
            error(ErrorCode::UnknownBoard, "board 3 does not exist"),
        ),
        v(
            "server_error_viewport_off_board",
            error(
                ErrorCode::ViewportOffBoard,
                "viewport does not overlap the board",
            ),
        ),
        v(
            "server_error_viewport_too_large",
            error(ErrorCode::ViewportTooLarge, "viewport too large"),
        ),
        v(
            "server_error_rate_limited",
            error(ErrorCode::RateLimited, "slow down"),
        ),
        v(
            "frame_paint_result_and_tile_update",
            Message::Server(vec![
                ServerMessage::PaintResult(PaintResult {
                    seq: 7,
                    outcome: PaintOutcome::Accepted,
                }),
                tile_update(),
            ]),
        ),
    ]
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
}

fn blessing() -> bool {
    std::env::var(BLESS_VAR).is_ok_and(|v| v == "1")
}

/// The vectors, after writing the golden files once if blessing. Every test goes through here,
/// so no test reads a file while another one is rewriting it.
fn vectors() -> &'static [Vector] {
    static VECTORS: OnceLock<Vec<Vector>> = OnceLock::new();
    VECTORS.get_or_init(|| {
        let vectors = build_vectors();
        if blessing() {
            bless(&vectors);
        }
        vectors
    })
}

fn bless(vectors: &[Vector]) {
    let dir = golden_dir();
    std::fs::create_dir_all(&dir).expect("create tests/golden");
    let names: BTreeSet<&str> = vectors.iter().map(|v| v.name).collect();
    for stale in hex_files_in(&dir)
        .into_iter()
        .filter(|n| !names.contains(n.as_str()))
    {
        std::fs::remove_file(dir.join(format!("{stale}.hex"))).expect("remove a stale vector");
        eprintln!("{BLESS_VAR}: removed stale tests/golden/{stale}.hex");
    }
    for vector in vectors {
        let path = dir.join(format!("{}.hex", vector.name));
        std::fs::write(&path, to_hex(&vector.message.encode())).expect("write a golden vector");
    }
    let manifest = serde_json::to_string_pretty(&manifest(vectors)).expect("manifest is JSON");
    std::fs::write(dir.join("manifest.json"), manifest + "\n").expect("write the manifest");
    eprintln!(
        "{BLESS_VAR}: wrote {} vectors and manifest.json to {}",
        vectors.len(),
        dir.display()
    );
}

fn manifest(vectors: &[Vector]) -> Value {
    let described: serde_json::Map<String, Value> = vectors
        .iter()
        .map(|v| (v.name.to_owned(), v.message.describe()))
        .collect();
    let enums: serde_json::Map<String, Value> = all_variants()
        .into_iter()
        .map(|(name, variants)| (name.to_owned(), json!(variants)))
        .collect();
    json!({
        "note": "Generated by tests/golden_vectors.rs (TESSERA_BLESS=1 cargo test --test golden_vectors); do not edit.",
        "enums": enums,
        "vectors": described,
    })
}

/// Lowercase hex, 32 bytes per line.
fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2 + bytes.len() / 32 + 1);
    for line in bytes.chunks(32) {
        for b in line {
            write!(out, "{b:02x}").expect("writing to a String cannot fail");
        }
        out.push('\n');
    }
    out
}

/// Decodes hex, ignoring all whitespace.
fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
            u8::from_str_radix(pair, 16).map_err(|_| format!("{pair:?} is not a hex byte"))
        })
        .collect()
}

fn hex_files_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.expect("list tests/golden").path())
        .filter(|p| p.extension().is_some_and(|e| e == "hex"))
        .map(|p| {
            p.file_stem()
                .expect("a file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

fn read_golden(name: &str) -> Result<Vec<u8>, String> {
    let path = golden_dir().join(format!("{name}.hex"));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    from_hex(&text).map_err(|e| format!("{}: {e}", path.display()))
}

const BLESS_HINT: &str = "if the wire format changed on purpose, run `TESSERA_BLESS=1 cargo test --test golden_vectors` and review the diff";

#[test]
fn golden_files_match_the_encoder() {
    let mut failures = Vec::new();
    for vector in vectors() {
        let encoded = vector.message.encode();
        match read_golden(vector.name) {
            Ok(pinned) if pinned == encoded => {}
            Ok(pinned) => failures.push(format!(
                "{}: the encoder no longer produces the pinned bytes\n  pinned:  {}\n  encoder: {}",
                vector.name,
                to_hex(&pinned).replace('\n', ""),
                to_hex(&encoded).replace('\n', ""),
            )),
            Err(e) => failures.push(format!("{}: {e}", vector.name)),
        }
    }
    let names: BTreeSet<&str> = vectors().iter().map(|v| v.name).collect();
    for stale in hex_files_in(&golden_dir()) {
        if !names.contains(stale.as_str()) {
            failures.push(format!(
                "tests/golden/{stale}.hex is not one of the pinned vectors"
            ));
        }
    }
    assert!(failures.is_empty(), "{}\n{BLESS_HINT}", failures.join("\n"));
}

#[test]
fn golden_files_decode_to_their_messages() {
    for vector in vectors() {
        let bytes = read_golden(vector.name).unwrap_or_else(|e| panic!("{e}\n{BLESS_HINT}"));
        match &vector.message {
            Message::Client(msg) => {
                let decoded =
                    decode_client(&bytes).unwrap_or_else(|e| panic!("{}: {e}", vector.name));
                assert_eq!(&decoded, msg, "{}", vector.name);
            }
            Message::Server(msgs) => {
                let decoded =
                    decode_server_frame(&bytes).unwrap_or_else(|e| panic!("{}: {e}", vector.name));
                assert_eq!(&decoded, msgs, "{}", vector.name);
                let read: Vec<ServerMessage> = read_server_frame(&bytes)
                    .map(|m| {
                        m.unwrap_or_else(|e| panic!("{}: {e}", vector.name))
                            .into_owned()
                    })
                    .collect();
                assert_eq!(&read, msgs, "{} through the in-place reader", vector.name);
            }
        }
    }
}

#[test]
fn manifest_describes_the_vectors() {
    let path = golden_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}\n{BLESS_HINT}", path.display()));
    let pinned: Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    let expected = manifest(vectors());
    assert!(
        pinned == expected,
        "tests/golden/manifest.json is out of date\n  pinned:   {pinned}\n  expected: {expected}\n{BLESS_HINT}"
    );
}

/// Finds an enum's variants in tag order by asking the real decoder which tags it accepts after
/// `prefix`, padded with zero bytes (zero is a valid value of every field: empty strings and
/// lists, tag 0). Adding a variant therefore changes the result without touching this file.
fn probe<T>(
    prefix: &[u8],
    decode: impl Fn(&[u8]) -> Option<T>,
    name: impl Fn(T) -> String,
) -> Vec<String> {
    let mut names = Vec::new();
    // Tags up to 250 are one byte in the varint encoding.
    for tag in 0u8..=250 {
        let found = (0..=128).find_map(|padding| {
            let mut bytes = prefix.to_vec();
            bytes.push(tag);
            bytes.resize(bytes.len() + padding, 0);
            decode(&bytes)
        });
        match found {
            Some(value) => names.push(name(value)),
            None => break,
        }
    }
    assert!(
        !names.is_empty(),
        "probing found no variant after {prefix:?}"
    );
    names
}

/// Exactly one server message, or nothing.
fn one_server_message(bytes: &[u8]) -> Option<ServerMessage> {
    decode_server_frame(bytes)
        .ok()
        .filter(|msgs| msgs.len() == 1)
        .and_then(|mut msgs| msgs.pop())
}

/// Every protocol enum's variant names in tag order, as the Rust types define them.
fn all_variants() -> BTreeMap<&'static str, Vec<String>> {
    let result =
        |outcome| encode_server(&ServerMessage::PaintResult(PaintResult { seq: 0, outcome }));
    let accepted = result(PaintOutcome::Accepted);
    let rejected = result(PaintOutcome::Rejected {
        reason: RejectReason::Cooldown,
        retry_after_ms: 0,
    });
    let error = encode_server(&ServerMessage::Error {
        code: ErrorCode::Malformed,
        message: String::new(),
    });
    // Layouts from docs/protocol.md, every field one byte here: PaintResult = tag, seq, outcome
    // tag, [reason, retry]; Error = tag, code, message length.
    assert_eq!((accepted.len(), rejected.len(), error.len()), (3, 5, 3));
    let outcome_of = |msg: ServerMessage| match msg {
        ServerMessage::PaintResult(r) => r.outcome,
        other => panic!("probed a PaintResult, decoded {other:?}"),
    };
    BTreeMap::from([
        (
            "ClientMessage",
            probe(&[], |b| decode_client(b).ok(), |m| variant_name(&m)),
        ),
        (
            "ServerMessage",
            probe(&[], one_server_message, |m| variant_name(&m)),
        ),
        (
            "PaintOutcome",
            probe(&accepted[..2], one_server_message, |m| {
                variant_name(&outcome_of(m))
            }),
        ),
        (
            "RejectReason",
            probe(&rejected[..3], one_server_message, |m| {
                match outcome_of(m) {
                    PaintOutcome::Rejected { reason, .. } => variant_name(&reason),
                    other => panic!("probed a rejection, decoded {other:?}"),
                }
            }),
        ),
        (
            "ErrorCode",
            probe(&error[..1], one_server_message, |m| match m {
                ServerMessage::Error { code, .. } => variant_name(&code),
                other => panic!("probed an Error, decoded {other:?}"),
            }),
        ),
    ])
}

/// The variants a set of vectors uses, per enum.
fn used_variants<'a>(
    vectors: impl IntoIterator<Item = &'a Vector>,
) -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut used: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    let mut add = |e: &'static str, name: String| {
        used.entry(e).or_default().insert(name);
    };
    for vector in vectors {
        match &vector.message {
            Message::Client(msg) => add("ClientMessage", variant_name(msg)),
            Message::Server(msgs) => {
                for msg in msgs {
                    add("ServerMessage", variant_name(msg));
                    match msg {
                        ServerMessage::PaintResult(r) => {
                            add("PaintOutcome", variant_name(&r.outcome));
                            if let PaintOutcome::Rejected { reason, .. } = r.outcome {
                                add("RejectReason", variant_name(&reason));
                            }
                        }
                        ServerMessage::Error { code, .. } => add("ErrorCode", variant_name(code)),
                        _ => {}
                    }
                }
            }
        }
    }
    used
}

#[test]
fn golden_vectors_cover_every_variant() {
    let used = used_variants(vectors());
    for (enum_name, variants) in all_variants() {
        let missing: Vec<_> = variants
            .iter()
            .filter(|v| !used.get(enum_name).is_some_and(|u| u.contains(*v)))
            .collect();
        assert!(
            missing.is_empty(),
            "no golden vector uses {enum_name}::{missing:?}: add one to build_vectors()"
        );
    }
    assert!(
        vectors()
            .iter()
            .any(|v| matches!(&v.message, Message::Server(msgs) if msgs.len() >= 2)),
        "a frame of several server messages must be pinned"
    );
}

/// `docs/protocol.md` marks each worked example with `<!-- golden: NAME -->` followed by a fenced
/// block of hex bytes, each line optionally annotated after a `#`. Every example must be exactly
/// the vector's bytes, and together they must show every message type and a multi-message frame.
#[test]
fn protocol_doc_examples_match_golden_vectors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join("protocol.md");
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let by_name: BTreeMap<&str, &Vector> = vectors().iter().map(|v| (v.name, v)).collect();
    let mut shown = Vec::new();
    let mut lines = doc.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        let Some(name) = line
            .trim()
            .strip_prefix("<!-- golden:")
            .and_then(|r| r.strip_suffix("-->"))
        else {
            continue;
        };
        let name = name.trim();
        let vector = by_name.get(name).unwrap_or_else(|| {
            panic!(
                "docs/protocol.md:{}: no golden vector named {name:?}",
                number + 1
            )
        });
        let fence = |l: &&str| l.trim_start().starts_with("```");
        let block = lines
            .by_ref()
            .map(|(_, l)| l)
            .skip_while(|l| !fence(l))
            .skip(1)
            .take_while(|l| !fence(l));
        let mut hex = String::new();
        for l in block {
            hex.push_str(l.split('#').next().unwrap_or_default());
            hex.push('\n');
        }
        let bytes =
            from_hex(&hex).unwrap_or_else(|e| panic!("docs/protocol.md example {name}: {e}"));
        assert!(
            bytes == vector.message.encode(),
            "docs/protocol.md example {name} differs from the encoder:\n  doc:     {}\n  encoder: {}",
            to_hex(&bytes).replace('\n', ""),
            to_hex(&vector.message.encode()).replace('\n', ""),
        );
        shown.push(*vector);
    }
    let used = used_variants(shown.iter().copied());
    let all = all_variants();
    for enum_name in ["ClientMessage", "ServerMessage"] {
        let missing: Vec<_> = all[enum_name]
            .iter()
            .filter(|v| !used.get(enum_name).is_some_and(|u| u.contains(*v)))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/protocol.md has no worked example of {enum_name}::{missing:?}"
        );
    }
    assert!(
        shown
            .iter()
            .any(|v| matches!(&v.message, Message::Server(msgs) if msgs.len() >= 2)),
        "docs/protocol.md has no worked example of a multi-message frame"
    );
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| [dir.join(program), dir.join(format!("{program}.exe"))])
        .find(|candidate| candidate.is_file())
}

/// Runs the JavaScript codec's tests (`node --test tests/js/`) against the same golden files.
#[test]
fn javascript_codec_matches_golden_vectors() {
    // Written (when blessing) before node reads them.
    vectors();
    let Some(node) = find_on_path("node") else {
        let on_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(
            !on_ci,
            "`node` is not on PATH, and CI is set: the JavaScript codec must be tested on CI"
        );
        eprintln!(
            "SKIPPED javascript_codec_matches_golden_vectors: `node` (>= 20) is not on PATH, so \
             assets/protocol.js was not tested; install Node.js or run `node --test tests/js/`"
        );
        return;
    };
    let output = Command::new(&node)
        .args(["--test", "tests/js/"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", node.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "`node --test tests/js/` failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // Guard against node finding no test files, which it reports as success.
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("# pass") && l.trim() != "# pass 0"),
        "`node --test tests/js/` ran no passing tests:\n{stdout}\n{stderr}"
    );
}
