//! `dialsync agents apply` against the real emulator over loopback: a 150-agent plan under
//! heavy version churn ends with every agent as planned and no 409 reported as a failure,
//! with the request count at the minimum plus two per absorbed conflict; the second run
//! writes nothing; plan errors are all reported before any write; a dry run writes nothing;
//! and the real binary does the same from a config file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use dialsync::agents::{self, ApplyOptions, Plan, PlanError, PlanFormat, RunError, Status};
use dialsync_emulator::{EmulatorConfig, RunningEmulator, Stats};
use dialsync_genesys::{Endpoint, GenesysClient, OrgSettings, Secret};

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
const DEPTS: [&str; 4] = ["Sales", "Customer Care", "Billing", "Collections"];
const FIRST: [&str; 15] = [
    "Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Isla", "Jonas", "Keira",
    "Luis", "Maya", "Nikhil", "Olivia",
];
const LAST: [&str; 10] = [
    "Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ivanova", "Jensen",
];

/// The sample org's email of agent `i` (see `dialsync_emulator::sample_org`).
fn email(i: usize) -> String {
    format!(
        "{}.{}{}@example.com",
        FIRST[i % 15].to_lowercase(),
        LAST[(i / 15) % 10].to_lowercase(),
        i
    )
}

fn user_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-a9e470000{i:03}")
}

/// A plan in which every part differs from the sample org for every agent: new title and
/// department, a replaced skill set, an added language (`languagesMode: add`), and an
/// email capacity.
fn full_plan(agents: usize) -> String {
    let mut y = String::from("version: 1\nlanguagesMode: add\nagents:\n");
    for i in 0..agents {
        let _ = write!(
            y,
            "  - user: {}\n    title: Weekly {}\n    department: {}\n    skills: {{{}: {}, {}: 5}}\n    languages: {{German: {}}}\n    utilization:\n      email: {{maximumCapacity: {}, interruptableMediaTypes: [call]}}\n",
            email(i),
            i % 7,
            DEPTS[(i + 1) % 4],
            SKILLS[(i + 2) % 8],
            i % 5,
            SKILLS[(i + 5) % 8],
            1 + i % 4,
            2 + i % 3,
        );
    }
    y
}

async fn emulator(churn_per_sec: f64, latency_ms: u64) -> RunningEmulator {
    let config = EmulatorConfig {
        sample_org: true,
        rate_limit_per_minute: 100_000,
        version_churn_per_sec: churn_per_sec,
        latency: Duration::from_millis(latency_ms)..=Duration::from_millis(latency_ms * 2),
        seed: 3,
        ..EmulatorConfig::default()
    };
    dialsync_emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn client(emu: &RunningEmulator) -> GenesysClient {
    let mut settings = OrgSettings::new(
        "emu",
        Endpoint::BaseUrl(emu.base_url().parse().unwrap()),
        "dialsync",
        Secret::new("emulator-secret".to_string()),
    );
    settings.requests_per_minute = 100_000;
    settings.max_concurrency = 16;
    GenesysClient::new(settings).unwrap()
}

/// PATCH and PUT requests the emulator answered (any route, any status).
fn writes(stats: &Stats) -> u64 {
    stats
        .routes
        .iter()
        .filter(|r| {
            matches!(r.method.as_str(), "PATCH" | "PUT" | "POST" | "DELETE")
                && r.route.starts_with("/api/")
        })
        .map(|r| r.count)
        .sum()
}

fn api_requests(stats: &Stats) -> u64 {
    stats
        .routes
        .iter()
        .filter(|r| r.route.starts_with("/api/"))
        .map(|r| r.count)
        .sum()
}

async fn run(
    client: &GenesysClient,
    plan: &str,
    options: &ApplyOptions,
) -> Result<agents::RunReport, RunError> {
    agents::run(
        client,
        Plan::parse(plan, PlanFormat::Yaml),
        options,
        |_| {},
        |_| {},
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plan_of_150_agents_under_churn_converges_with_minimal_requests_then_is_idempotent() {
    // ~53 version bumps per agent per second and 2–4 ms per request: a GET→PATCH window
    // is hit by churn often enough that conflicts must be absorbed.
    let emu = emulator(8000.0, 2).await;
    let client = client(&emu);
    let plan = full_plan(150);
    let before = emu.stats();
    let report = run(
        &client,
        &plan,
        &ApplyOptions {
            concurrency: 8,
            ..ApplyOptions::default()
        },
    )
    .await
    .expect("plan is valid");
    let after = emu.stats();

    let failed: Vec<_> = report
        .agents
        .iter()
        .filter(|o| o.status != Status::Applied)
        .collect();
    assert!(
        failed.is_empty(),
        "every agent applied, no 409 reported as a failure: {failed:#?}"
    );
    let s = &report.summary;
    assert_eq!((s.agents, s.applied, s.failed), (150, 150, 0));

    // Minimum: per agent GET+PATCH user, GET+PUT skills, GET+PATCH languages, GET+PUT
    // utilization = 8; every absorbed conflict costs exactly one more GET and PATCH.
    let conflicts = u64::from(s.conflicts_absorbed);
    assert!(
        conflicts > 0,
        "the churn must have caused conflicts for this test to mean anything"
    );
    assert_eq!(u64::from(s.requests), 150 * 8 + 2 * conflicts);
    let user_route = "/api/v2/users/{userId}";
    let patches = after.route_total("PATCH", user_route) - before.route_total("PATCH", user_route);
    let conflicts_seen =
        after.count("PATCH", user_route, 409) - before.count("PATCH", user_route, 409);
    assert_eq!(patches, 150 + conflicts);
    assert_eq!(
        conflicts_seen, conflicts,
        "every 409 the emulator sent was absorbed"
    );
    // The directory listings (users, skills, languages; all pages) + the agents' requests.
    let listings: u64 = [
        "/api/v2/users",
        "/api/v2/routing/skills",
        "/api/v2/routing/languages",
    ]
    .iter()
    .map(|r| after.route_total("GET", r) - before.route_total("GET", r))
    .sum();
    assert!(
        (3..=5).contains(&listings),
        "one or two pages per listing: {listings}"
    );
    let api = api_requests(&after) - api_requests(&before);
    assert_eq!(api, u64::from(s.requests) + listings, "no hidden requests");
    eprintln!(
        "150 agents under churn: {} requests, {} conflicts absorbed",
        s.requests, conflicts
    );

    // Every agent ends in the desired state (the emulator's own state dump).
    let state = emu.state();
    let skill_id = |name: &str| {
        format!(
            "00000000-0000-4000-8000-5b11100000{:02}",
            SKILLS.iter().position(|s| *s == name).unwrap()
        )
    };
    for i in 0..150 {
        let u = state
            .user(&user_id(i))
            .unwrap_or_else(|| panic!("user {i} in dump"));
        assert_eq!(
            u.user.extra["title"],
            format!("Weekly {}", i % 7),
            "user {i}"
        );
        assert_eq!(u.user.extra["department"], DEPTS[(i + 1) % 4], "user {i}");
        let want: BTreeMap<String, f64> = BTreeMap::from([
            (skill_id(SKILLS[(i + 2) % 8]), (i % 5) as f64),
            (skill_id(SKILLS[(i + 5) % 8]), 5.0),
        ]);
        assert_eq!(u.skills, want, "user {i} skills replaced");
        assert_eq!(
            u.languages.get("00000000-0000-4000-8000-1a9900000003"),
            Some(&((1 + i % 4) as f64)),
            "user {i} German"
        );
        assert_eq!(
            u.languages.get("00000000-0000-4000-8000-1a9900000000"),
            Some(&5.0),
            "user {i} keeps English"
        );
        let util = u
            .utilization
            .as_ref()
            .unwrap_or_else(|| panic!("user {i} has agent utilization"));
        let email_util = &util.utilization["email"];
        assert_eq!(email_util.maximum_capacity, (2 + i % 3) as u32, "user {i}");
        assert_eq!(
            email_util.interruptable_media_types,
            vec!["call".to_string()],
            "user {i}"
        );
        if i % 2 == 0 {
            // Agent-level settings the plan does not mention survive the PUT.
            assert_eq!(
                util.utilization["chat"].maximum_capacity,
                2 + (i % 3) as u32,
                "user {i} chat kept"
            );
        }
    }

    // Second run of the same plan, churn still running: reads only, zero writes.
    let before = emu.stats();
    let again = run(&client, &plan, &ApplyOptions::default()).await.unwrap();
    let after = emu.stats();
    assert_eq!(
        again.summary.unchanged,
        150,
        "{:#?}",
        again.agents.iter().find(|o| o.status != Status::Unchanged)
    );
    assert_eq!(
        writes(&after) - writes(&before),
        0,
        "second apply writes nothing"
    );
    assert_eq!(again.summary.requests, 150 * 4, "one read per managed part");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_plan_error_is_reported_before_any_write() {
    let emu = emulator(0.0, 0).await;
    let client = client(&emu);
    let plan = format!(
        "agents:\n  - user: {0}\n    skills: {{Sales: 7, Knitting: 2}}\n  - user: nobody@example.com\n    title: X\n  - user: {1}\n    languages: {{Klingon: 3}}\n    utilization: {{fax: {{maximumCapacity: 1}}}}\n  - user: {2}\n    title: fine\n  - user: {3}\n    title: duplicate by id\n  - user: {4}\n    title: would be written if the plan were valid\n",
        email(0),
        email(1),
        email(2),
        user_id(2),
        email(3),
    );
    let err = run(&client, &plan, &ApplyOptions::default())
        .await
        .unwrap_err();
    let RunError::Plan(PlanError::Invalid(issues)) = err else {
        panic!("expected plan issues, got {err}")
    };
    let text: Vec<String> = issues.iter().map(ToString::to_string).collect();
    let has = |prefix: &str, needle: &str| {
        text.iter()
            .any(|t| t.starts_with(prefix) && t.contains(needle))
    };
    assert!(
        has("agents[0]", "skills.Sales"),
        "proficiency out of range: {text:#?}"
    );
    assert!(
        has(
            "agents[1] (nobody@example.com): user",
            "unknown agent email"
        ),
        "{text:#?}"
    );
    assert!(has("agents[2]", "utilization"), "bad media type: {text:#?}");
    assert!(
        has("agents[4]", "duplicate agent"),
        "same agent by email and id: {text:#?}"
    );
    // Entries with schema errors are not resolved, so the unknown skill of agents[0] and
    // unknown language of agents[2] show up once their schema errors are fixed:
    let fixed = plan.replace("Sales: 7", "Sales: 4").replace("fax", "email");
    let RunError::Plan(PlanError::Invalid(issues)) = run(&client, &fixed, &ApplyOptions::default())
        .await
        .unwrap_err()
    else {
        panic!("expected plan issues")
    };
    let text: Vec<String> = issues.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("unknown skill \"Knitting\"")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("unknown language \"Klingon\"")),
        "{text:#?}"
    );
    assert_eq!(text.len(), 4, "{text:#?}");
    assert_eq!(writes(&emu.stats()), 0, "nothing written");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reports_the_diff_and_writes_nothing() {
    let emu = emulator(0.0, 0).await;
    let client = client(&emu);
    let report = run(
        &client,
        &full_plan(10),
        &ApplyOptions {
            dry_run: true,
            ..ApplyOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.summary.planned, 10);
    let first = &report.agents[0];
    assert!(
        first
            .changes
            .iter()
            .any(|c| c.starts_with("title: \"Agent\" -> \"Weekly 0\"")),
        "{:?}",
        first.changes
    );
    assert!(
        first.changes.iter().any(|c| c.contains("-> removed")),
        "{:?}",
        first.changes
    );
    assert_eq!(writes(&emu.stats()), 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_applies_a_csv_plan_from_a_config_and_rejects_a_bad_one() {
    let emu = emulator(50.0, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dialsync.toml");
    std::fs::write(
        &config,
        format!(
            "[orgs.emu]\nbase_url = \"{}\"\nclient_id = \"dialsync\"\nclient_secret_env = \"AGENTS_TEST_SECRET\"\nrequests_per_minute = 100000\n\n[sources.servicenow]\nplugin = \"servicenow\"\norg = \"emu\"\ncontact_list_id = \"unused-by-agents\"\n",
            emu.base_url()
        ),
    )
    .unwrap();
    let plan = dir.path().join("plan.csv");
    std::fs::write(
        &plan,
        format!(
            "user,title,skills,skills_mode,languages,utilization\n{},Lead,VIP:4,add,French:2,call:2\n{},,Sales:1;Billing:2,,,\n",
            email(5),
            user_id(6)
        ),
    )
    .unwrap();
    let out = dir.path().join("report.json");
    let bin = env!("CARGO_BIN_EXE_dialsync");
    let run_bin = |plan: std::path::PathBuf, out: std::path::PathBuf| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(bin)
                .args(["agents", "apply"])
                .arg(&plan)
                .arg("--config")
                .arg(&config)
                .arg("--report")
                .arg(&out)
                .env("AGENTS_TEST_SECRET", "emulator-secret")
                .output()
                .unwrap()
        })
    };
    let output = run_bin(plan.clone(), out.clone()).await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    assert!(!stderr.contains("emulator-secret"), "secret never printed");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(report["summary"]["applied"], 2, "{report:#}");
    assert_eq!(report["agents"][0]["location"], "line 2");
    let state = emu.state();
    let u5 = state.user(&user_id(5)).unwrap();
    assert_eq!(u5.user.extra["title"], "Lead");
    assert_eq!(
        u5.skills.get("00000000-0000-4000-8000-5b1110000007"),
        Some(&4.0),
        "VIP added"
    );
    assert_eq!(u5.skills.len(), 3, "add mode keeps the two existing skills");
    assert_eq!(
        u5.utilization.as_ref().unwrap().utilization["call"].maximum_capacity,
        2
    );
    assert_eq!(state.user(&user_id(6)).unwrap().skills.len(), 2);

    // Same plan again: exit 0, all unchanged.
    let output = run_bin(plan, out.clone()).await.unwrap();
    assert!(output.status.success());
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(report["summary"]["unchanged"], 2, "{report:#}");

    // A bad plan: exit 2, every problem on stderr and in the report, nothing written.
    let writes_before = writes(&emu.stats());
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "user,skills,utilization\n{},Sales:9,fax:1\nghost@example.com,Sales:1,\n",
            email(7)
        ),
    )
    .unwrap();
    let output = run_bin(bad, out.clone()).await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("line 2 (")
            && stderr.contains("skills.Sales: proficiency 9 is outside 0-5"),
        "{stderr}"
    );
    assert!(
        stderr.contains("utilization.fax: unknown media type"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 3 (ghost@example.com): user: unknown agent email"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        report["planIssues"].as_array().unwrap().len(),
        3,
        "{report:#}"
    );
    assert_eq!(writes(&emu.stats()), writes_before);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_weekly_plan_applies_to_the_sample_org_once() {
    let emu = emulator(20.0, 0).await;
    let client = client(&emu);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/agents/weekly-plan.yaml");
    let load = || Plan::load(&path).expect("example plan readable");
    let first = agents::run(&client, load(), &ApplyOptions::default(), |_| {}, |_| {})
        .await
        .unwrap();
    assert_eq!(first.summary.failed, 0, "{:#?}", first.agents);
    assert_eq!(
        first.summary.applied, first.summary.agents,
        "{:#?}",
        first.agents
    );
    let writes_before = writes(&emu.stats());
    let second = agents::run(&client, load(), &ApplyOptions::default(), |_| {}, |_| {})
        .await
        .unwrap();
    assert_eq!(
        second.summary.unchanged, second.summary.agents,
        "{:#?}",
        second.agents
    );
    assert_eq!(writes(&emu.stats()), writes_before);

    // The CSV example resolves against the same org without problems.
    let csv = path.with_extension("csv");
    let parsed = Plan::load(&csv).expect("example csv readable");
    let targets = agents::prepare(&client, parsed)
        .await
        .expect("example csv is valid");
    assert_eq!(targets.len(), 4);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_beyond_the_attempt_bound_fail_the_agent_with_the_reason() {
    // The churn bumps (nearly) every user once per 100 ms tick; 25–50 ms per request makes
    // every read→PATCH gap long enough that many of the 40 straddle a tick, however fast or
    // loaded the machine (with 3 ms the whole apply could fit between two ticks).
    let emu = emulator(10000.0, 25).await;
    let client = client(&emu);
    let mut plan = String::from("agents:\n");
    for i in 0..40 {
        let _ = writeln!(plan, "  - user: {}\n    title: Bounded {i}", email(i));
    }
    let options = ApplyOptions {
        max_conflict_attempts: 1,
        ..ApplyOptions::default()
    };
    let report = run(&client, &plan, &options).await.unwrap();
    assert_eq!(report.agents.len(), 40, "no agent dropped");
    let failed: Vec<_> = report
        .agents
        .iter()
        .filter(|o| o.status == Status::Failed)
        .collect();
    assert!(
        !failed.is_empty(),
        "with one attempt under this churn some PATCH must conflict"
    );
    for o in &failed {
        assert_eq!(o.errors.len(), 1, "{o:?}");
        assert!(
            o.errors[0].starts_with("update user: still conflicting after 1 attempts"),
            "{o:?}"
        );
        assert!(
            o.errors[0].contains("409"),
            "the Genesys answer is quoted: {o:?}"
        );
    }
    let applied = report
        .agents
        .iter()
        .filter(|o| o.status == Status::Applied)
        .count();
    assert_eq!(applied + failed.len(), 40);
    emu.shutdown().await;
}

/// Requests by (method, route) between two snapshots, for the routing routes.
fn routing_requests(before: &Stats, after: &Stats) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in &after.routes {
        if r.route.contains("/routingskills") || r.route.contains("/routinglanguages") {
            let was = before.count(&r.method, &r.route, r.status);
            if r.count > was {
                *out.entry(format!(
                    "{} {}",
                    r.method,
                    r.route.rsplit("/users/{userId}").next().unwrap_or(&r.route)
                ))
                .or_insert(0) += r.count - was;
            }
        }
    }
    out
}

/// Expected requests of one step: (`METHOD /route-suffix`, count).
type Requests<'a> = &'a [(&'a str, u64)];
/// Wanted languages: (name, proficiency).
type Langs<'a> = &'a [(&'a str, f64)];

fn counts(pairs: Requests<'_>) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// Languages are the agent's exact set: each transition (add and change and remove at once,
/// remove only, change only, add only, nothing) takes the fewest requests — one PATCH for
/// everything added or re-rated, one DELETE per language removed — while version churn
/// keeps the user PATCH busy; the emulator's state matches the plan after every step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn languages_are_replaced_exactly_per_transition_under_churn() {
    let emu = emulator(500.0, 1).await;
    let client = client(&emu);
    // Sample agent 1 starts with English 5 and French 2 (see the sample org).
    let lang = |name: &str| {
        let i = ["English", "Spanish", "French", "German", "Portuguese"]
            .iter()
            .position(|l| *l == name)
            .unwrap();
        format!("00000000-0000-4000-8000-1a9900000{i:03}")
    };
    assert_eq!(
        emu.state().user(&user_id(1)).unwrap().languages,
        BTreeMap::from([(lang("English"), 5.0), (lang("French"), 2.0)])
    );
    let steps: [(&str, Langs<'_>, Requests<'_>); 5] = [
        (
            "{English: 4, German: 3}",
            &[("English", 4.0), ("German", 3.0)],
            &[
                ("GET /routinglanguages", 1),
                ("PATCH /routinglanguages/bulk", 1),
                ("DELETE /routinglanguages/{languageId}", 1),
            ],
        ),
        (
            "{German: 3}",
            &[("German", 3.0)],
            &[
                ("GET /routinglanguages", 1),
                ("DELETE /routinglanguages/{languageId}", 1),
            ],
        ),
        (
            "{German: 1}",
            &[("German", 1.0)],
            &[
                ("GET /routinglanguages", 1),
                ("PATCH /routinglanguages/bulk", 1),
            ],
        ),
        (
            "{German: 1, Spanish: 2}",
            &[("German", 1.0), ("Spanish", 2.0)],
            &[
                ("GET /routinglanguages", 1),
                ("PATCH /routinglanguages/bulk", 1),
            ],
        ),
        (
            "{German: 1, Spanish: 2}",
            &[("German", 1.0), ("Spanish", 2.0)],
            &[("GET /routinglanguages", 1)],
        ),
    ];
    for (n, (langs, want, requests)) in steps.iter().enumerate() {
        let plan = format!(
            "agents:\n  - user: {}\n    title: Step {n}\n    languages: {langs}\n",
            email(1)
        );
        let before = emu.stats();
        let report = run(&client, &plan, &ApplyOptions::default()).await.unwrap();
        assert_eq!(report.summary.failed, 0, "step {n}: {:#?}", report.agents);
        let after = emu.stats();
        assert_eq!(
            routing_requests(&before, &after),
            counts(requests),
            "step {n}: {langs}"
        );
        let state = emu.state();
        let u = state.user(&user_id(1)).unwrap();
        let expected: BTreeMap<String, f64> = want.iter().map(|(l, p)| (lang(l), *p)).collect();
        assert_eq!(u.languages, expected, "step {n}: {langs}");
        assert_eq!(u.user.extra["title"], format!("Step {n}"), "step {n}");
    }
    // `languagesMode: add` leaves the others alone.
    let plan = format!(
        "languagesMode: add\nagents:\n  - user: {}\n    languages: {{English: 5}}\n",
        email(1)
    );
    run(&client, &plan, &ApplyOptions::default()).await.unwrap();
    assert_eq!(emu.state().user(&user_id(1)).unwrap().languages.len(), 3);
    emu.shutdown().await;
}

/// Skills are replaced by whichever of a replacing PUT or PATCH-plus-DELETEs takes fewer
/// requests: with 55 wanted skills a PUT takes two calls (50 per call), so removing one
/// skill is one DELETE and re-rating one is one PATCH, under version churn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skills_are_replaced_exactly_with_the_fewest_requests_under_churn() {
    let emu = emulator(500.0, 1).await;
    let skills: Vec<dialsync_emulator::FixtureNamed> = (0..60)
        .map(|i| dialsync_emulator::FixtureNamed {
            id: Some(format!("skill-{i:02}")),
            name: format!("S{i:02}"),
        })
        .collect();
    emu.load_fixtures(&dialsync_emulator::Fixtures {
        skills,
        ..Default::default()
    })
    .unwrap();
    let client = client(&emu);
    let plan = |skills: &[(usize, f64)]| {
        let list: Vec<String> = skills
            .iter()
            .map(|(i, p)| format!("S{i:02}: {p}"))
            .collect();
        format!(
            "agents:\n  - user: {}\n    title: T{}\n    skills: {{{}}}\n",
            email(2),
            skills.len(),
            list.join(", ")
        )
    };
    let all: Vec<(usize, f64)> = (0..55).map(|i| (i, 3.0)).collect();
    let mut fewer = all.clone();
    fewer.pop();
    let mut rerated = fewer.clone();
    rerated[0].1 = 5.0;
    let steps: [(&[(usize, f64)], Requests<'_>); 4] = [
        // From the sample's 2 skills to 55 new ones: PUT (50) + PATCH (5) = 2 calls, which
        // also drops the old two; PATCHes plus a DELETE per old skill would take 4.
        (
            &all,
            &[
                ("GET /routingskills", 1),
                ("PUT /routingskills/bulk", 1),
                ("PATCH /routingskills/bulk", 1),
            ],
        ),
        (
            &fewer,
            &[
                ("GET /routingskills", 1),
                ("DELETE /routingskills/{skillId}", 1),
            ],
        ),
        (
            &rerated,
            &[("GET /routingskills", 1), ("PATCH /routingskills/bulk", 1)],
        ),
        (&rerated, &[("GET /routingskills", 1)]),
    ];
    for (n, (want, requests)) in steps.iter().enumerate() {
        let before = emu.stats();
        let report = run(&client, &plan(want), &ApplyOptions::default())
            .await
            .unwrap();
        assert_eq!(report.summary.failed, 0, "step {n}: {:#?}", report.agents);
        assert_eq!(
            routing_requests(&before, &emu.stats()),
            counts(requests),
            "step {n}"
        );
        let expected: BTreeMap<String, f64> = want
            .iter()
            .map(|(i, p)| (format!("skill-{i:02}"), *p))
            .collect();
        assert_eq!(
            emu.state().user(&user_id(2)).unwrap().skills,
            expected,
            "step {n}"
        );
    }
    emu.shutdown().await;
}
