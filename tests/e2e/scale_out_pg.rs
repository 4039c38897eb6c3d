//! Scale-out acceptance: three `dialsync serve` worker processes and one `dialsync import`
//! on one real PostgreSQL store (started by the pg-harness from Debian's `postgresql`
//! binaries), three Genesys orgs (one emulator each, faults on, a per-client rate limit
//! equal to the org's configured budget). Webhooks for every org's `hooks_*` source arrive
//! at all three workers while the import runs; one worker is SIGKILLed mid-run and its
//! senders move to the others (as behind a load balancer). Afterwards every list equals
//! the state computed independently from the input, with no duplicate contact, no dead
//! letter, nothing unfinished, and no 429 the emulators answered because dialsync went
//! over an org's limit (injected 429 bursts are counted apart).
//!
//! The change count defaults to 20,000 (`DIALSYNC_E2E_SCALE_CHANGES` lowers or raises it);
//! leases are 2 s so the dead worker's claims are taken over in seconds.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use dialsync_emulator::{EmulatorConfig, FixtureDncList, Fixtures, RunningEmulator};
use dialsync_pg_harness::PgServer;
use serde_json::{Value, json};

use super::support::{
    SECRET_ENV, dialsync, emulator, expected, finish, list_state, records, servicenow_list,
};

const HOOKS_TOKEN_ENV: &str = "DIALSYNC_E2E_SCALE_HOOKS_TOKEN";
const HOOKS_TOKEN: &str = "scale-hooks-token";
/// The three orgs; each has a webhook source `hooks_<org>` writing `list-<org>-hooks`.
const ORGS: [&str; 3] = ["a", "b", "c"];
/// The import's source and its list (on org `b`).
const FILES: (&str, &str, &str) = ("files", "b", "list-b-files");
/// Each org's Genesys limit (requests per minute per OAuth client, as the emulator counts
/// them) and the budget dialsync is configured with: the same number.
const PER_MINUTE: u32 = 1200;
/// Records per webhook request.
const PER_REQUEST: usize = 50;
/// Worker processes.
const WORKERS: usize = 3;

/// The emulator of one org: faults on (latency, 503s, injected 429 bursts, writes applied
/// then answered 500), the org's per-client limit, its lists and a DNC list.
async fn org(name: &str, seed: u64) -> RunningEmulator {
    let mut lists = vec![servicenow_list(&format!("list-{name}-hooks"))];
    if name == FILES.1 {
        lists.push(servicenow_list(FILES.2));
    }
    emulator(EmulatorConfig {
        rate_limit_per_minute: 100_000,
        rate_limit_per_client_per_minute: Some(PER_MINUTE),
        max_contacts_per_call: 50,
        latency: Duration::from_millis(2)..=Duration::from_millis(15),
        error_rate: 0.03,
        burst_429_rate: 0.02,
        applied_then_error_rate: 0.01,
        seed,
        fixtures: Some(Fixtures {
            contact_lists: lists,
            dnc_lists: vec![FixtureDncList {
                id: Some("sn-dnc".into()),
                name: "DNC".into(),
                phone_numbers: vec![],
            }],
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
}

fn write_config(dir: &Path, url: &str, emus: &[RunningEmulator]) -> PathBuf {
    let mut text = format!("[store]\nurl = \"{url}\"\nlease_secs = 2\n");
    for (name, emu) in ORGS.iter().zip(emus) {
        text.push_str(&format!(
            "\n[orgs.{name}]\nbase_url = \"{}\"\nclient_id = \"dialsync\"\n\
             client_secret_env = \"{SECRET_ENV}\"\nrequests_per_minute = {PER_MINUTE}\n\
             max_contacts_per_call = 50\n",
            emu.base_url()
        ));
    }
    let mut sources: Vec<(String, &str, String)> = ORGS
        .iter()
        .map(|o| (format!("hooks_{o}"), *o, format!("list-{o}-hooks")))
        .collect();
    sources.push((FILES.0.into(), FILES.1, FILES.2.into()));
    for (source, org, list) in &sources {
        text.push_str(&format!(
            "\n[sources.{source}]\nplugin = \"servicenow\"\norg = \"{org}\"\n\
             contact_list_id = \"{list}\"\ndnc_list_id = \"sn-dnc\"\n\
             [sources.{source}.config]\ndefault_region = \"US\"\n"
        ));
        if source.starts_with("hooks_") {
            text.push_str(&format!(
                "[sources.{source}.auth]\nscheme = \"bearer\"\nsecret_env = \"{HOOKS_TOKEN_ENV}\"\n"
            ));
        }
    }
    let path = dir.join("dialsync.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `dialsync serve` on a free port; its log goes to a file (a pipe could fill up).
fn spawn_worker(dir: &Path, config: &Path, n: usize) -> Child {
    let log = std::fs::File::create(dir.join(format!("worker-{n}.log"))).unwrap();
    dialsync(dir)
        .env(HOOKS_TOKEN_ENV, HOOKS_TOKEN)
        .args(["serve", "--addr", "127.0.0.1:0", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// The base URL of a started worker, from the line it prints once listening.
fn worker_url(dir: &Path, child: &mut Child, n: usize) -> String {
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| {
            panic!(
                "worker {n} did not start: {line:?}; log: {}",
                std::fs::read_to_string(dir.join(format!("worker-{n}.log"))).unwrap_or_default()
            )
        })
        .to_string()
}

/// Posts `body` to `source`'s webhook on the workers, starting at worker `first`; a
/// refused connection or a 5xx moves on to the next worker (bounded), as a load balancer
/// would once a worker is gone.
async fn deliver(
    http: &reqwest::Client,
    workers: &[String],
    first: usize,
    source: &str,
    body: &Value,
) {
    for attempt in 0..30 {
        let base = &workers[(first + attempt) % workers.len()];
        let sent = http
            .post(format!("{base}/v1/sources/{source}/events"))
            .header("authorization", format!("Bearer {HOOKS_TOKEN}"))
            .json(body)
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().as_u16() == 202 => return,
            Ok(resp) if resp.status().is_server_error() => {}
            Ok(resp) => panic!("{source}: {} {}", resp.status(), resp.text().await.unwrap()),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{source}: no worker took the delivery in 30 attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_and_an_import_on_postgres_survive_a_sigkill() {
    let started = Instant::now();
    let changes: usize = std::env::var("DIALSYNC_E2E_SCALE_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    // Every record arrives twice (new version, then the old one): a change each. A quarter
    // of the changes come from the import, the rest as webhooks spread over the orgs.
    let file_records = changes / 8;
    let hook_records = (changes / 2 - file_records) / ORGS.len();

    let pg = PgServer::start().expect("PostgreSQL test server");
    let url = pg.create_database("scale_out").unwrap();
    let mut emus = Vec::new();
    for (i, name) in ORGS.iter().enumerate() {
        emus.push(org(name, 31 + i as u64).await);
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &url, &emus);
    let input = dir.path().join("files.jsonl");
    std::fs::write(
        &input,
        records(9, file_records)
            .iter()
            .map(|r| format!("{r}\n"))
            .collect::<String>(),
    )
    .unwrap();

    // The workers start at once (each loads its plugins and migrates the store).
    let mut children: Vec<Child> = (0..WORKERS)
        .map(|n| spawn_worker(dir.path(), &config, n))
        .collect();
    let urls: Vec<String> = children
        .iter_mut()
        .enumerate()
        .map(|(n, child)| worker_url(dir.path(), child, n))
        .collect();
    let ready_at = started.elapsed();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    for url in &urls {
        let ready: Value = http
            .get(format!("{url}/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready["journal"]["store"], "postgres", "{ready}");
    }

    // The import and the webhooks at once; each org's webhooks from one sender per worker.
    let import = dialsync(dir.path())
        .args(["import", "--source", FILES.0])
        .arg(&input)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut senders = Vec::new();
    for (o, name) in ORGS.iter().enumerate() {
        let all = records(o as u32 + 1, hook_records);
        let per_sender = all.len().div_ceil(WORKERS);
        for (w, part) in all.chunks(per_sender).enumerate() {
            let (http, urls, part) = (http.clone(), urls.clone(), part.to_vec());
            let source = format!("hooks_{name}");
            senders.push(tokio::spawn(async move {
                for body in part.chunks(PER_REQUEST) {
                    deliver(&http, &urls, w, &source, &Value::from(body.to_vec())).await;
                }
            }));
        }
    }

    // SIGKILL worker 0 mid-run: once a tenth of the contacts have landed.
    let lists: Vec<(usize, String, usize)> = ORGS
        .iter()
        .enumerate()
        .map(|(i, o)| (i, format!("list-{o}-hooks"), hook_records))
        .chain([(1, FILES.2.to_string(), file_records)])
        .collect();
    let total_contacts: usize = lists.iter().map(|(_, _, n)| n).sum();
    let landed = |emus: &[RunningEmulator]| -> usize {
        lists
            .iter()
            .map(|(i, list, _)| list_state(&emus[*i], list).len())
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while landed(&emus) < total_contacts / 10 {
        assert!(Instant::now() < deadline, "nothing landed in 120 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed_at = started.elapsed();
    children[0].kill().unwrap(); // SIGKILL
    children[0].wait().unwrap();

    for s in senders {
        s.await.unwrap();
    }
    let delivered_at = started.elapsed();
    let (code, stderr) = finish(import, "import").await;
    assert_eq!(code, Some(0), "import: {stderr}");
    let imported_at = started.elapsed();

    // The dead worker's claims are taken over once its 2 s lease expires.
    let pool = dialsync_pg::connect(&dialsync_pg::PgSettings::new(url.clone())).unwrap();
    let journal = dialsync_pg::PgJournal::new(pool, Duration::from_secs(2));
    let drained = Instant::now();
    while journal.unfinished().await.unwrap() > 0 {
        assert!(
            drained.elapsed() < Duration::from_secs(120),
            "the workers never finished the journal"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained_at = started.elapsed();

    // `deadletters list` and `status` read the PostgreSQL store.
    let out = dialsync(dir.path())
        .args(["deadletters", "list", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let letters: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(letters, json!([]), "no dead letters");
    let some_id = format!("sn_{:08x}{:024x}", 1, 1);
    let out = dialsync(dir.path())
        .args(["status", &some_id, "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status[0]["row"]["data"]["title"], "title v2", "{status}");

    // Exactly the expected contacts (list_state panics on a duplicate), nothing lost.
    for (o, name) in ORGS.iter().enumerate() {
        let list = format!("list-{name}-hooks");
        assert_eq!(
            list_state(&emus[o], &list),
            expected(o as u32 + 1, hook_records),
            "{list}"
        );
    }
    assert_eq!(list_state(&emus[1], FILES.2), expected(9, file_records));
    let mut calls = Vec::new();
    for (name, emu) in ORGS.iter().zip(&emus) {
        let stats = emu.stats();
        assert_eq!(
            stats.over_limit, 0,
            "org {name}: 429s for over-sending: {stats:?}"
        );
        calls.push(format!(
            "{name}: {} requests, {} injected 429s",
            stats.total,
            stats.status_total(429)
        ));
    }
    eprintln!(
        "scale-out: {changes} changes ({total_contacts} contacts) by {WORKERS} workers + 1 import; \
         workers ready at {ready_at:.1?}, worker 0 killed at {killed_at:.1?}, webhooks \
         delivered at {delivered_at:.1?}, import done at {imported_at:.1?}, drained at \
         {drained_at:.1?}; done in {:.1?}; {}",
        started.elapsed(),
        calls.join("; ")
    );

    for mut child in children.into_iter().skip(1) {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    for emu in emus {
        emu.shutdown().await;
    }
}
