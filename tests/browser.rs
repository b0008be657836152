//! The browser end-to-end test: the real server binary, the page at `/`, two Chromium contexts.
//!
//! `tests/e2e/paint.spec.mjs` (playwright-core driving Debian's Chromium) paints a pixel in one
//! context and waits for it in the other; this test starts the server for it and checks that it
//! passed. Screenshots of both pages land in `target/e2e-screenshots/`.
//!
//! Needs Node.js (>= 20) and Chromium (`CHROMIUM`, default `/usr/bin/chromium`); `.ci/test`
//! installs both. Without them the test prints `SKIPPED …` and passes, unless `CI` is set.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const TEST_NAME: &str = "a_paint_in_one_browser_appears_in_another";
/// The script bounds itself to 60 s; this only catches a node that hangs anyway.
const NODE_TIMEOUT: Duration = Duration::from_secs(90);
const NPM_CI_TIMEOUT: Duration = Duration::from_secs(180);
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);
const URL_PREFIX: &str = "Tessera is running: open ";

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

/// Kills the child process when dropped, so no server or browser outlives a failed assertion.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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

/// The server binary on a free port with a fresh data directory, and its URL.
struct Server {
    process: KillOnDrop,
    url: String,
    logs: JoinHandle<String>,
    _data: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TESSERA__") {
                command.env_remove(key);
            }
        }
        let mut child = command
            .current_dir(data.path())
            .env("TESSERA__SERVER__LISTEN", "127.0.0.1:0")
            .env("TESSERA__BOARDS__0__WIDTH", "256")
            .env("TESSERA__BOARDS__0__HEIGHT", "256")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start the tessera binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let logs = collect(child.stderr.take().expect("piped stderr"));
        let process = KillOnDrop(child);
        // The first stdout line names the URL; the rest of stdout is drained and ignored.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let line = match rx.recv_timeout(SERVER_START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            outcome => {
                drop(process);
                panic!(
                    "the server printed no URL line within {SERVER_START_TIMEOUT:?} ({outcome:?}); \
                     its log:\n{}",
                    logs.join().unwrap_or_default()
                );
            }
        };
        let url = line
            .strip_prefix(URL_PREFIX)
            .unwrap_or_else(|| panic!("unexpected first stdout line of the server: {line:?}"))
            .trim()
            .to_owned();
        Self {
            process,
            url,
            logs,
            _data: data,
        }
    }

    /// Stops the server and returns what it logged.
    fn stop(self) -> String {
        drop(self.process);
        self.logs.join().unwrap_or_default()
    }
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| manifest_dir().join(dir))
        .unwrap_or_else(|| manifest_dir().join("target"));
    target.join("e2e-screenshots")
}

#[test]
fn a_paint_in_one_browser_appears_in_another() {
    let tools = find_node().and_then(|node| Ok((node, find_chromium()?)));
    let (node, chromium) = match tools {
        Ok(tools) => tools,
        Err(why) if on_ci() => panic!(
            "{TEST_NAME} cannot run on CI: {why}. `.ci/run` (through `.ci/test`) installs \
             Node.js and Debian's chromium; run it, or install them yourself"
        ),
        Err(why) => {
            eprintln!("SKIPPED {TEST_NAME}: {why}");
            return;
        }
    };
    let e2e = manifest_dir().join("tests/e2e");
    install_npm_packages(&e2e);

    let shots = screenshot_dir();
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", shots.display()));

    let server = Server::start();
    let mut command = Command::new(&node);
    command
        .arg(e2e.join("paint.spec.mjs"))
        .arg(&server.url)
        .arg(&shots)
        .env("CHROMIUM", &chromium)
        .current_dir(manifest_dir());
    let (status, output) = run(command, NODE_TIMEOUT);
    let logs = server.stop();

    match status {
        Some(status) if status.success() => {
            eprintln!("{output}");
            eprintln!("screenshots: {}", shots.display());
        }
        Some(status) => {
            panic!("the browser test failed ({status}):\n{output}\nserver log:\n{logs}")
        }
        None => panic!(
            "the browser test did not finish within {NODE_TIMEOUT:?}:\n{output}\nserver log:\n{logs}"
        ),
    }
}
