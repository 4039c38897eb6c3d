//! `dialsync agents apply` against the seed-003 script, same emulator, same run.
//!
//! A 150-agent plan (new title and department, replaced skills, a language, a utilization
//! setting for every agent) is applied to the emulator's sample org under heavy user-version
//! churn, three ways:
//! - dialsync: per agent read → diff → write what differs, 409 → re-read and re-apply;
//! - dialsync again: the same plan a second time (should write nothing);
//! - naive: the seed's script — GET every user's version first, then PATCH every user and
//!   write skills, languages and utilization blindly; a 409 is a failure.
//!
//! Bounded: three runs of 150 agents, each with a 120 s cap. Prints a table.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use dialsync::agents::{self, ApplyOptions, Plan, PlanFormat};
use dialsync_emulator::{EmulatorConfig, RunningEmulator, Stats};
use dialsync_genesys::{
    Endpoint, GenesysClient, GenesysError, OrgSettings, RetryClass, Secret, UpdateUser,
};

const AGENTS: usize = 150;
const CHURN_PER_SEC: f64 = 4000.0;
const LATENCY_MS: u64 = 3;
const CAP: Duration = Duration::from_secs(120);
const SKILLS: [&str; 8] = [
    "Sales",
    "Support",
    "Billing",
    "Renewals",
    "Collections",
    "Retention",
    "Technical",
    "VIP",
];
const FIRST: [&str; 15] = [
    "Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Isla", "Jonas", "Keira",
    "Luis", "Maya", "Nikhil", "Olivia",
];
const LAST: [&str; 10] = [
    "Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ivanova", "Jensen",
];

fn email(i: usize) -> String {
    let (first, last) = (
        FIRST[i % 15].to_lowercase(),
        LAST[(i / 15) % 10].to_lowercase(),
    );
    format!("{first}.{last}{i}@example.com")
}

fn plan() -> String {
    let mut y = String::from("agents:\n");
    for i in 0..AGENTS {
        let _ = write!(
            y,
            "  - user: {}\n    title: Weekly {}\n    department: Outbound {}\n    skills: {{{}: 3, {}: 5}}\n    languages: {{German: 2}}\n    utilization:\n      email: {{maximumCapacity: 3}}\n",
            email(i),
            i % 7,
            i % 3,
            SKILLS[(i + 2) % 8],
            SKILLS[(i + 5) % 8],
        );
    }
    y
}

struct Row {
    name: &'static str,
    wall: Duration,
    requests: u64,
    writes: u64,
    conflicts: u64,
    failed: usize,
}

fn api(stats: &Stats) -> (u64, u64, u64) {
    let api = stats.routes.iter().filter(|r| r.route.starts_with("/api/"));
    let requests = api.clone().map(|r| r.count).sum();
    let writes = api
        .clone()
        .filter(|r| r.method != "GET")
        .map(|r| r.count)
        .sum();
    let conflicts = api.filter(|r| r.status == 409).map(|r| r.count).sum();
    (requests, writes, conflicts)
}

fn client(emu: &RunningEmulator) -> GenesysClient {
    let mut s = OrgSettings::new(
        "bench",
        Endpoint::BaseUrl(emu.base_url().parse().expect("emulator url")),
        "dialsync",
        Secret::new("emulator-secret"),
    );
    s.requests_per_minute = 100_000;
    s.max_concurrency = 16;
    GenesysClient::new(s).expect("client")
}

async fn dialsync_run(emu: &RunningEmulator, client: &GenesysClient, name: &'static str) -> Row {
    let before = api(&emu.stats());
    let started = Instant::now();
    let parsed = Plan::parse(&plan(), PlanFormat::Yaml);
    let report = tokio::time::timeout(
        CAP,
        agents::run(client, parsed, &ApplyOptions::default(), |_| {}, |_| {}),
    )
    .await
    .expect("within the cap")
    .expect("valid plan");
    let wall = started.elapsed();
    let after = api(&emu.stats());
    Row {
        name,
        wall,
        requests: after.0 - before.0,
        writes: after.1 - before.1,
        conflicts: after.2 - before.2,
        failed: report.summary.failed,
    }
}

/// The seed's script: versions fetched up front, then every agent written blindly with
/// the version it fetched; 409s are failures. Same concurrency (8) as dialsync.
async fn naive_run(emu: &RunningEmulator, client: &GenesysClient) -> Row {
    use futures::StreamExt;
    let before = api(&emu.stats());
    let started = Instant::now();
    let directory = agents::Directory::fetch(client).await.expect("directory");
    let parsed = Plan::parse(&plan(), PlanFormat::Yaml);
    let (targets, issues) = agents::resolve::resolve(&parsed.plan, &directory);
    assert!(issues.is_empty(), "{issues:?}");
    let versions: Vec<i64> = futures::stream::iter(&targets)
        .map(|t| async move {
            client
                .get_user(&t.user_id)
                .await
                .expect("get")
                .version
                .unwrap_or(0)
        })
        .buffered(8)
        .collect()
        .await;
    let failed = tokio::time::timeout(
        CAP,
        futures::stream::iter(targets.iter().zip(versions))
            .map(|(t, version)| async move {
                let body = UpdateUser {
                    version,
                    title: t.fields.title.clone(),
                    department: t.fields.department.clone(),
                    ..UpdateUser::default()
                };
                let skills: Vec<_> = t
                    .skills
                    .iter()
                    .flat_map(|s| &s.skills)
                    .map(|(id, p)| dialsync_genesys::UserRoutingSkillPost {
                        id: id.clone(),
                        proficiency: p.proficiency,
                    })
                    .collect();
                let langs: Vec<_> = t
                    .languages
                    .iter()
                    .flatten()
                    .map(|(id, p)| dialsync_genesys::UserRoutingLanguagePost {
                        id: id.clone(),
                        proficiency: p.proficiency,
                    })
                    .collect();
                let util = dialsync_genesys::Utilization {
                    utilization: Some(
                        [(
                            "email".to_string(),
                            dialsync_genesys::model::MediaUtilization {
                                maximum_capacity: Some(3),
                                ..Default::default()
                            },
                        )]
                        .into(),
                    ),
                    ..Default::default()
                };
                let user: Result<_, GenesysError> = client.patch_user(&t.user_id, &body).await;
                let _ = client.put_user_routing_skills(&t.user_id, &skills).await;
                let _ = client
                    .patch_user_routing_languages(&t.user_id, &langs)
                    .await;
                let _ = client.put_user_utilization(&t.user_id, &util).await;
                matches!(user, Err(e) if e.retry_class() == RetryClass::Conflict)
            })
            .buffer_unordered(8)
            .filter(|conflicted| std::future::ready(*conflicted))
            .count(),
    )
    .await
    .expect("within the cap");
    let wall = started.elapsed();
    let after = api(&emu.stats());
    Row {
        name: "naive fetch-all-then-write",
        wall,
        requests: after.0 - before.0,
        writes: after.1 - before.1,
        conflicts: after.2 - before.2,
        failed,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rows = runtime.block_on(async {
        let config = EmulatorConfig {
            sample_org: true,
            rate_limit_per_minute: 100_000,
            version_churn_per_sec: CHURN_PER_SEC,
            latency: Duration::from_millis(LATENCY_MS)..=Duration::from_millis(LATENCY_MS * 2),
            seed: 3,
            ..EmulatorConfig::default()
        };
        let emu = dialsync_emulator::start(config, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("emulator");
        let client = client(&emu);
        let first = dialsync_run(&emu, &client, "dialsync agents apply").await;
        let second = dialsync_run(&emu, &client, "dialsync agents apply (2nd run)").await;
        emu.emulator().reset().expect("reset");
        let naive = naive_run(&emu, &client).await;
        emu.shutdown().await;
        [first, second, naive]
    });
    println!(
        "\n{AGENTS} agents, churn {CHURN_PER_SEC}/s ({:.0} bumps/agent/s), {LATENCY_MS}-{} ms latency, concurrency 8\n",
        CHURN_PER_SEC / AGENTS as f64,
        LATENCY_MS * 2
    );
    println!(
        "{:<34} {:>9} {:>9} {:>8} {:>6} {:>16}",
        "approach", "wall", "requests", "writes", "409s", "agents failed"
    );
    for r in &rows {
        println!(
            "{:<34} {:>8.2}s {:>9} {:>8} {:>6} {:>16}",
            r.name,
            r.wall.as_secs_f64(),
            r.requests,
            r.writes,
            r.conflicts,
            r.failed
        );
    }
    let (ours, naive) = (&rows[0], &rows[2]);
    println!(
        "\nratios dialsync/naive: wall {:.2}, requests {:.2}; naive left {} of {AGENTS} agents with stale user fields",
        ours.wall.as_secs_f64() / naive.wall.as_secs_f64(),
        ours.requests as f64 / naive.requests as f64,
        naive.failed
    );
}
