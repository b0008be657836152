//! The binary itself: settings errors at startup, the printed URL, SIGTERM with a final snapshot.

use std::process::{Command, Stdio};

use crate::helpers::tessera_binary as tessera;
use std::time::Duration;

#[test]
fn an_invalid_setting_stops_startup_naming_key_value_and_rule() {
    let dir = tempfile::tempdir().unwrap();

    let out = tessera(dir.path())
        .env("TESSERA__BOARDS__0__TILE_SIZE", "100")
        .output()
        .unwrap();

    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("boards[0].tile_size"), "{stderr}");
    assert!(stderr.contains("100"), "{stderr}");
    assert!(stderr.contains("power of two"), "{stderr}");
}

#[test]
fn a_broken_settings_file_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.toml");
    std::fs::write(&file, "[server\nlisten = ").unwrap();

    let out = tessera(dir.path())
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();

    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.toml"), "{stderr}");
}

#[test]
fn the_binary_prints_its_url_serves_and_snapshots_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tessera(dir.path())
        .env("TESSERA__SERVER__LISTEN", "127.0.0.1:0")
        .env("TESSERA__BOARDS__0__WIDTH", "128")
        .env("TESSERA__BOARDS__0__HEIGHT", "128")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = crate::helpers::printed_url(&mut child);
    assert!(!url.ends_with(":0/"), "the real port is printed: {url}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let r = client
            .post(format!("{url}api/boards/main/pixels"))
            .json(&serde_json::json!({"x": 3, "y": 4, "color": 7}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tessera did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let data = dir.path().join("data").join("main");
    assert!(
        data.join("manifest.json").exists(),
        "final snapshot written under {}",
        data.display()
    );
}
