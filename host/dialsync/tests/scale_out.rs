//! Scale-out on PostgreSQL: the `dialsync` binary against a real PostgreSQL server started
//! by the test harness (Debian's `postgresql` binaries; the tests fail naming the package
//! when they are missing).

use std::path::Path;
use std::process::Command;

use dialsync_pg_harness::PgServer;

fn config(dir: &Path, store: &str) -> std::path::PathBuf {
    let path = dir.join("dialsync.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\n{store}\n\n[orgs.acme]\nbase_url = \"http://127.0.0.1:9\"\n\
             client_id = \"id\"\nclient_secret_env = \"SCALE_OUT_TEST_SECRET\"\n"
        ),
    )
    .unwrap();
    path
}

fn migrate(config: &Path, env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dialsync"))
        .args(["migrate", "--json", "--config"])
        .arg(config)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn migrate_brings_a_postgres_store_up_to_date_once() {
    let server = PgServer::start().expect("PostgreSQL test server");
    let url = server.create_database("cli_migrate").unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The password comes from the environment (trust auth ignores it; a wrong variable
    // name is an error naming the key).
    let cfg = config(
        dir.path(),
        &format!("url = \"{url}\"\npassword_env = \"SCALE_OUT_TEST_PG_PASSWORD\""),
    );
    let (ok, _, err) = migrate(&cfg, &[]);
    assert!(!ok && err.contains("store.password_env"), "{err}");
    let env = [("SCALE_OUT_TEST_PG_PASSWORD", "s3cret-pg")];
    let (ok, out, err) = migrate(&cfg, &env);
    assert!(ok, "{err}");
    let first: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(first["store"], "postgres");
    assert_eq!(first["from_version"], 0);
    let version = first["version"].as_i64().unwrap();
    assert_eq!(
        first["applied"].as_array().unwrap().len() as i64,
        version,
        "{first}"
    );
    let (ok, out, err) = migrate(&cfg, &env);
    assert!(ok, "{err}");
    let second: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(second["applied"], serde_json::json!([]));
    assert_eq!(second["version"], version);
    assert!(!out.contains("s3cret-pg") && !err.contains("s3cret-pg"));
}

#[test]
fn migrate_without_a_url_migrates_the_sqlite_journal() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "path = \"journal.db\"");
    let (ok, out, err) = migrate(&cfg, &[]);
    assert!(ok, "{err}");
    let first: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(first["store"], "sqlite");
    assert!(dir.path().join("journal.db").exists());
    assert!(!first["applied"].as_array().unwrap().is_empty());
    let (ok, out, _) = migrate(&cfg, &[]);
    assert!(ok);
    let second: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(second["applied"], serde_json::json!([]));
}

fn run(config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dialsync"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn status_and_deadletters_read_the_postgres_store() {
    let server = PgServer::start().expect("PostgreSQL test server");
    let url = server.create_database("cli_journal").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &format!("url = \"{url}\""));
    // An empty store: no dead letters, an unknown record, an unknown id to replay.
    let (code, out, err) = run(&cfg, &["deadletters", "list", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "[]");
    let (code, _, err) = run(&cfg, &["status", "SN_nobody"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("no changes for externalId \"SN_nobody\""),
        "{err}"
    );
    let (code, out, err) = run(&cfg, &["deadletters", "replay", "42"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("replayed 0 dead letter(s)"), "{out}");
    assert!(err.contains("no open dead letter with id 42"), "{err}");
    // Nothing was written to a SQLite file beside the config.
    assert!(!dir.path().join("dialsync.db").exists());
}

/// Pull positions on a PostgreSQL store are shared by every worker, and one worker at a
/// time sweeps a source (a lock that a cancelled sweep gives up too).
#[tokio::test]
async fn pull_positions_and_the_sweep_lock_are_shared_on_postgres() {
    use dialsync::pull::cursors::CursorStore;
    use std::time::Duration;
    let server = PgServer::start().expect("PostgreSQL test server");
    let url = server.create_database("cursors").unwrap();
    let pool = |_: u8| dialsync_pg::connect(&dialsync_pg::PgSettings::new(url.clone())).unwrap();
    dialsync_pg::migrate(&pool(0)).await.unwrap();
    let (a, b) = (
        CursorStore::postgres(pool(1)),
        CursorStore::postgres(pool(2)),
    );
    assert_eq!(a.get("sn", "customer_contact").await.unwrap(), None);
    a.set("sn", "customer_contact", "p1").await.unwrap();
    a.set("sn", "customer_contact", "p2").await.unwrap();
    assert_eq!(
        b.get("sn", "customer_contact").await.unwrap().as_deref(),
        Some("p2"),
        "worker b sees worker a's position"
    );
    assert_eq!(b.get("sf", "customer_contact").await.unwrap(), None);

    let held = a.sweep_lock("sn").await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(300), b.sweep_lock("sn")).await;
    assert!(waiting.is_err(), "b waits while a sweeps");
    // Another source is not held up.
    b.sweep_lock("sf").await.unwrap().release().await;
    held.release().await;
    let got = tokio::time::timeout(Duration::from_secs(5), b.sweep_lock("sn"))
        .await
        .expect("b sweeps once a is done")
        .unwrap();
    drop(got); // as a cancelled sweep: the connection closes, the lock ends
    tokio::time::timeout(Duration::from_secs(5), a.sweep_lock("sn"))
        .await
        .expect("a dropped lock is given up")
        .unwrap()
        .release()
        .await;
}
