//! The browser end-to-end tests: the real server binary, the page at `/`, headless Chromium.
//!
//! Each test runs one spec of `tests/e2e/` (`node tests/e2e/run.mjs <spec> <binary> <dir>`):
//! playwright-core drives Debian's Chromium, and the spec starts its own servers from this
//! crate's `tessera` binary (fresh data directories, free ports) so it can stop and restart
//! them. Screenshots of the main states land in `target/e2e-screenshots/`.
//!
//! Needs Node.js (>= 20) and Chromium (`CHROMIUM`, default `/usr/bin/chromium`); `.ci/test`
//! installs both. Without them a test prints `SKIPPED …` and passes, unless `CI` is set, where
//! it fails.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// `run.mjs` bounds itself to 100 s; this only catches a node that hangs anyway.
const NODE_TIMEOUT: Duration = Duration::from_secs(130);
const NPM_CI_TIMEOUT: Duration = Duration::from_secs(180);

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| [dir.join(program), dir.join(format!("{program}.exe"))])
        .find(|candidate| candidate.is_file())
}

/// Node.js >= 20 (what playwright-core needs), or why not.
fn find_node() -> Result<PathBuf, String> {
    let node = find_on_path("node").ok_or("`node` is not on PATH")?;
    let output = Command::new(&node)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", node.display()))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("`node --version` printed {version:?}"))?;
    if major < 20 {
        return Err(format!("node {version} is older than 20"));
    }
    Ok(node)
}

fn find_chromium() -> Result<PathBuf, String> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no Chromium at {} (set CHROMIUM to its path)",
            path.display()
        ))
    }
}

/// Collects everything a pipe delivers, on a thread, so the child never blocks on a full pipe.
fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for the child to exit within `timeout`; kills it when it does not.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Runs a command to completion within `timeout`: its status (None on timeout) and its output.
fn run(mut command: Command, timeout: Duration) -> (Option<ExitStatus>, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let stdout = collect(child.stdout.take().expect("piped stdout"));
    let stderr = collect(child.stderr.take().expect("piped stderr"));
    let status = wait_with_timeout(&mut child, timeout);
    let output = format!(
        "{}{}",
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default()
    );
    (status, output)
}

/// `npm ci` in tests/e2e when its node_modules is missing.
fn install_npm_packages(e2e: &Path) {
    if e2e.join("node_modules").is_dir() {
        return;
    }
    let npm = find_on_path("npm").unwrap_or_else(|| {
        panic!(
            "tests/e2e/node_modules is missing and `npm` is not on PATH to install it; \
             `.ci/test` installs it, or run `npm ci` in tests/e2e"
        )
    });
    let mut command = Command::new(npm);
    command
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(e2e);
    let (status, output) = run(command, NPM_CI_TIMEOUT);
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!("`npm ci` in {} failed ({status}):\n{output}", e2e.display()),
        None => panic!(
            "`npm ci` in {} did not finish within {NPM_CI_TIMEOUT:?}:\n{output}",
            e2e.display()
        ),
    }
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| manifest_dir().join(dir))
        .unwrap_or_else(|| manifest_dir().join("target"));
    target.join("e2e-screenshots")
}

/// One browser at a time: two Chromiums on a 2-core machine would make each other's steps slow.
static BROWSER: Mutex<()> = Mutex::new(());

/// Runs `tests/e2e/<spec>.spec.mjs` and fails with its report when it fails.
fn run_spec(spec: &str) {
    let test_name = format!("browser::{spec}");
    let tools = find_node().and_then(|node| Ok((node, find_chromium()?)));
    let (node, chromium) = match tools {
        Ok(tools) => tools,
        Err(why) if on_ci() => panic!(
            "{test_name} cannot run on CI: {why}. `.ci/run` (through `.ci/test`) installs \
             Node.js and Debian's chromium; run it, or install them yourself"
        ),
        Err(why) => {
            eprintln!("SKIPPED {test_name}: {why}");
            return;
        }
    };
    let _one_at_a_time = BROWSER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let e2e = manifest_dir().join("tests/e2e");
    install_npm_packages(&e2e);
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", shots.display()));

    let mut command = Command::new(&node);
    command
        .arg(e2e.join("run.mjs"))
        .arg(spec)
        .arg(env!("CARGO_BIN_EXE_tessera"))
        .arg(&shots)
        .env("CHROMIUM", &chromium)
        .current_dir(manifest_dir());
    let (status, output) = run(command, NODE_TIMEOUT);
    match status {
        Some(status) if status.success() => eprintln!("{output}"),
        Some(status) => panic!("{test_name} failed ({status}):\n{output}"),
        None => panic!("{test_name} did not finish within {NODE_TIMEOUT:?}:\n{output}"),
    }
}

#[test]
fn a_paint_in_one_browser_appears_in_another() {
    run_spec("paint");
}

#[test]
fn panning_drops_old_tiles_and_subscribes_new_ones() {
    run_spec("pan");
}

#[test]
fn a_huge_board_zoomed_out_loads_overview_tiles_only() {
    run_spec("overview");
}

#[test]
fn the_cooldown_timer_follows_the_server() {
    run_spec("cooldown");
}

#[test]
fn the_url_hash_holds_the_view_across_reloads() {
    run_spec("hash");
}

#[test]
fn the_page_reconnects_after_a_server_restart_and_shows_missed_paints() {
    run_spec("reconnect");
}

#[test]
fn a_phone_taps_to_paint_drags_to_pan_and_pinches_to_zoom() {
    run_spec("phone");
}
