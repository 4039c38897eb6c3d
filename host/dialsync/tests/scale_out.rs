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

/// The Pub/Sub checkpoint on a PostgreSQL store is shared by every worker (replay id
/// and event keys, old keys expire), and one worker at a time holds a (source, topic)'s
/// subscriber lock (a dropped holder gives it up).
#[tokio::test]
async fn the_pubsub_checkpoint_and_subscriber_lock_are_shared_on_postgres() {
    use dialsync::subscribe::replay::ReplayStore;
    use std::time::Duration;
    const TOPIC: &str = "/data/ContactChangeEvent";
    let server = PgServer::start().expect("PostgreSQL test server");
    let url = server.create_database("pubsub_checkpoint").unwrap();
    let pool = |_: u8| dialsync_pg::connect(&dialsync_pg::PgSettings::new(url.clone())).unwrap();
    dialsync_pg::migrate(&pool(0)).await.unwrap();
    let (a, b) = (
        ReplayStore::postgres(pool(1)),
        ReplayStore::postgres(pool(2)),
    );
    assert_eq!(a.get("sf", TOPIC).await.unwrap(), None);
    let keys = vec!["tx1/1".to_owned(), "tx1/2".to_owned()];
    a.commit("sf", TOPIC, &[0, 0, 0, 7], &keys, 1_000)
        .await
        .unwrap();
    assert_eq!(b.get("sf", TOPIC).await.unwrap(), Some(vec![0, 0, 0, 7]));
    assert_eq!(b.get("other", TOPIC).await.unwrap(), None);
    let asked = vec!["tx1/2".to_owned(), "tx2/1".to_owned()];
    assert_eq!(
        b.seen("sf", &asked).await.unwrap(),
        ["tx1/2".to_owned()].into()
    );
    assert!(b.seen("other", &asked).await.unwrap().is_empty());
    // 72 hours later the keys are forgotten.
    b.commit("sf", TOPIC, &[8], &[], 1_000 + 72 * 3600 * 1000 + 1)
        .await
        .unwrap();
    assert!(a.seen("sf", &asked).await.unwrap().is_empty());
    assert_eq!(a.get("sf", TOPIC).await.unwrap(), Some(vec![8]));

    let held = a.subscriber_lock("sf", TOPIC).await.unwrap();
    assert!(held.is_held());
    let waiting =
        tokio::time::timeout(Duration::from_millis(300), b.subscriber_lock("sf", TOPIC)).await;
    assert!(waiting.is_err(), "b waits while a subscribes");
    // Another topic is not held up.
    b.subscriber_lock("sf", "/data/LeadChangeEvent")
        .await
        .unwrap()
        .release()
        .await;
    drop(held); // as an aborted subscriber: the connection closes, the lock ends
    let got = tokio::time::timeout(Duration::from_secs(5), b.subscriber_lock("sf", TOPIC))
        .await
        .expect("b takes over once a is gone")
        .unwrap();
    got.release().await;
    tokio::time::timeout(Duration::from_secs(5), a.subscriber_lock("sf", TOPIC))
        .await
        .expect("a released lock is free")
        .unwrap()
        .release()
        .await;
}

/// The admin console and `/v1/admin/runs` of a `serve` on a PostgreSQL store show what is
/// in that store (not a SQLite file beside the config).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_of_a_postgres_backed_serve_shows_its_records() {
    use dialsync::sync::{Change, NewBatch, Operation, Phone};
    const TOKEN: &str = "console-pg-admin-token";
    let server = PgServer::start().expect("PostgreSQL test server");
    let url = server.create_database("console").unwrap();
    let pool = dialsync_pg::connect(&dialsync_pg::PgSettings::new(url.clone())).unwrap();
    dialsync_pg::migrate(&pool).await.unwrap();
    // Another worker (here: the store directly) journalled a record and an import run.
    let journal = dialsync_pg::PgJournal::new(pool, std::time::Duration::from_secs(30));
    let now = chrono::Utc::now().timestamp_millis();
    let run = journal.start_run("crm", "people.csv", now).await.unwrap();
    let change = Change {
        external_id: "PG-REC-1".into(),
        source_id: "crm-77".into(),
        source_updated_at: chrono::Utc::now(),
        operation: Operation::Upsert,
        partial: false,
        columns: [("name".to_string(), "Ada".to_string())].into(),
        phones: vec![Phone {
            column: "phone".into(),
            number: "+14155550177".into(),
        }],
        callable: None,
    };
    let batch = NewBatch {
        source: "crm".into(),
        list_id: "list-pg".into(),
        changes: vec![change],
        run_id: Some(run),
        deliveries: vec![],
        summary: None,
    };
    journal.accept_group(vec![batch], now).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dialsync.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\nurl = \"{url}\"\n\n[orgs.acme]\nbase_url = \"http://127.0.0.1:9\"\n\
             client_id = \"id\"\nclient_secret_env = \"SCALE_OUT_TEST_SECRET\"\n\n\
             [server]\nadmin_token_env = \"SCALE_OUT_CONSOLE_ADMIN_TOKEN\"\n"
        ),
    )
    .unwrap();
    // SAFETY: these variables are read only by this test (its own names).
    unsafe {
        std::env::set_var("SCALE_OUT_TEST_SECRET", "emulator-secret");
        std::env::set_var("SCALE_OUT_CONSOLE_ADMIN_TOKEN", TOKEN);
    }
    let config = dialsync::config::Config::load(&path).unwrap();
    let state = dialsync::server::AppState::build(
        &config,
        dialsync::plugin_registry::Registry::new(&dir.path().join("home")),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(dialsync::server::serve(state, listener, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();

    let runs: serde_json::Value = http
        .get(format!("{base}/v1/admin/runs"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(runs["runs"][0]["id"], run, "{runs}");
    assert_eq!(runs["runs"][0]["input"], "people.csv", "{runs}");

    let login = http
        .post(format!("{base}/console/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .unwrap();
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie: {}", login.status()))
        .to_owned();
    // (A phone search needs a configured source's region to normalise the number; the
    // PostgreSQL phone query itself is compared with SQLite's in the e2e tests.)
    for (query, why) in [
        ("q=PG-REC-1", "by externalId"),
        ("q=crm-77&by=sourceId", "by CRM id"),
    ] {
        let found: serde_json::Value = http
            .get(format!("{base}/console/api/records?{query}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let history = &found["results"][0]["history"];
        assert_eq!(history["externalId"], "PG-REC-1", "{why}: {found}");
        assert_eq!(
            history["changes"][0]["change"]["source_id"], "crm-77",
            "{found}"
        );
    }
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
