//! `dialsync demo` end to end: the real binary, the real bundled plugins, the in-process
//! emulator on loopback and a real SQLite journal.
//!
//! The expected counts below are worked out by hand from the sample files (see
//! `samples/README.md`), record by record, not copied from the program's output.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// Expected outcome counts and end state of one CRM.
struct Expected {
    source: &'static str,
    /// applied, unchanged, stale, superseded, skipped, rejected, dead-lettered.
    outcomes: [u64; 7],
    /// Changes the plugin produced (journaled).
    accepted: u64,
    /// Contacts in the list at the end.
    contacts: u64,
    /// Of which uncallable (do-not-call or soft-deleted).
    uncallable: u64,
}

const OUTCOMES: [&str; 7] = [
    "applied",
    "unchanged",
    "stale",
    "superseded",
    "skipped",
    "rejected",
    "dead-lettered",
];

const EXPECTED: [Expected; 3] = [
    // ServiceNow, 40 records.
    // page 1: sn1..sn8 + sn9 (inactive → do-not-call) applied, record 0 is re-sent as record 9
    //         in the same page → 9 applied, 1 superseded.
    // page 2: bad phone, no sys_id, bad date → 3 rejected; no phone, never synced → journaled
    //         and skipped by the engine (`no_phone`); sn10, sn11,
    //         sn4 update, sn12 → 4 applied; sn2 older → stale; sn3 same content → unchanged.
    // page 3: sn5 deactivated, sn13 (second version; first superseded), sn14, sn15, sn17,
    //         sn18 → 6 applied, 1 superseded; bad mobile + 584-char title → 2 rejected;
    //         sn6 older → stale.
    // page 4: sn19..sn25, sn7 update, sn26 → 9 applied; phone as a JSON number → rejected.
    // Contacts: sn1..sn15, sn17..sn26 = 25; uncallable: sn5, sn9.
    Expected {
        source: "servicenow",
        outcomes: [28, 1, 2, 2, 1, 6, 0],
        accepted: 34,
        contacts: 25,
        uncallable: 2,
    },
    // Salesforce, 40 records (one CDC event names two contacts → 41 outcomes).
    // page 1: sf1..sf7, lead L1, sf8 (DoNotCall) → 9 applied; lead without phone, never
    //         synced → skipped by the engine (`no_phone`).
    // page 2: sf1 by its 15-char Id, same content → unchanged; sf2 older → stale; no Id,
    //         bad phone, bad SystemModstamp → 3 rejected; Account → skipped; sf9, sf10,
    //         sf3 deleted (soft), sf11 → 4 applied.
    // page 3 (CDC): CREATE+UPDATE sf12 → 1 superseded, 1 applied; UPDATE sf4 → applied;
    //         UPDATE of never-synced sf99 → rejected (unknown_contact); DoNotCall for sf5+sf6
    //         → 2 applied; DELETE sf7 → applied; GAP, UNDELETE, Opportunity → 3 skipped;
    //         bad record id → rejected.
    // page 4: sf13..sf19, lead L3, sf9 DoNotCall → 9 applied; DELETE of never-synced sf98
    //         → unchanged.
    // Contacts: sf1..sf19 but sf98/sf99, plus L1, L3 = 21; uncallable: sf3, sf5, sf6, sf7,
    // sf8, sf9.
    Expected {
        source: "salesforce",
        outcomes: [27, 2, 1, 1, 5, 5, 0],
        accepted: 33,
        contacts: 21,
        uncallable: 6,
    },
    // Custom CRM, 40 records.
    // page 1: c1..c8, c9 (do_not_call) → 9 applied; c10 without phone, never synced →
    //         skipped by the engine (`no_phone`).
    // page 2: c1 older → stale; c2 update, c11, c12 (sent twice: 1 superseded), c3 deleted,
    //         c13 → 5 applied; no id, no updated_at, bad phone → 3 rejected.
    // page 3: c4 same content → unchanged; c14 deleted but never synced → unchanged;
    //         no email key, phone as number → 2 rejected; c15..c19, c5 opt-out → 6 applied.
    // page 4: c20 twice (first superseded), c21..c27 → 8 applied; c6 older → stale.
    // Contacts: c1..c9, c11..c13, c15..c27 = 25; uncallable: c3, c5, c9.
    Expected {
        source: "custom-crm",
        outcomes: [28, 2, 2, 2, 1, 5, 0],
        accepted: 35,
        contacts: 25,
        uncallable: 3,
    },
];

/// Numbers on the DNC list: sn9, sn5; sf8, sf5, sf6, sf9; c9, c5 (one phone each).
const EXPECTED_DNC_NUMBERS: u64 = 8;

fn run_demo(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dialsync"))
        .arg("demo")
        .args(args)
        .output()
        .expect("the dialsync binary runs");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("expected a count, got {v}"))
}

fn check_outcomes_and_state(report: &Value) {
    let sources = report["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 3);
    for (want, got) in EXPECTED.iter().zip(sources) {
        assert_eq!(got["name"], want.source);
        let outcomes: BTreeMap<&str, u64> = OUTCOMES
            .iter()
            .map(|o| (*o, u(&got["outcomes"][*o])))
            .collect();
        let expected: BTreeMap<&str, u64> = OUTCOMES.iter().copied().zip(want.outcomes).collect();
        assert_eq!(outcomes, expected, "{} outcome counts", want.source);
        // Nothing lost: every accepted change has exactly one terminal outcome.
        assert_eq!(
            u(&got["changes_accepted"]),
            want.accepted,
            "{}",
            want.source
        );
        assert_eq!(
            u(&got["changes_finished"]),
            want.accepted,
            "{}",
            want.source
        );
        // Every rejection names the record and gives a reason; plugin rejections name the field.
        for e in got["examples"].as_array().expect("examples") {
            assert!(!e["reason"].as_str().unwrap_or("").is_empty(), "{e}");
            if e["outcome"] == "rejected" && e.get("external_id").is_none() {
                assert!(
                    e["field"].as_str().is_some_and(|f| f.starts_with('/')),
                    "{e}"
                );
            }
        }
    }
    let lists = report["state"]["lists"].as_array().expect("lists");
    for (want, got) in EXPECTED.iter().zip(lists) {
        assert_eq!(got["source"], want.source);
        assert_eq!(
            u(&got["contacts"]),
            want.contacts,
            "{} contacts",
            want.source
        );
        assert_eq!(
            u(&got["distinct_external_ids"]),
            want.contacts,
            "{}",
            want.source
        );
        assert_eq!(u(&got["duplicates"]), 0, "{} duplicates", want.source);
        assert_eq!(u(&got["uncallable"]), want.uncallable, "{}", want.source);
    }
    let state = &report["state"];
    assert_eq!(u(&state["dnc_numbers"]), EXPECTED_DNC_NUMBERS);
    assert_eq!(u(&state["lost"]), 0);
    assert_eq!(u(&state["dead_letters"]), 0);
    assert_eq!(state["read_back_mismatches"], serde_json::json!([]));
    // Every contact written (and the never-written keys) was read back through the API.
    // + sf98, sf99, c14 and the three records without a phone, which must be absent.
    let keys = 25 + 21 + 25 + 6;
    assert_eq!(u(&state["read_back"]), keys);
}

#[test]
fn demo_with_faults_gets_the_expected_outcomes_and_absorbs_the_faults() {
    let (status, stdout, stderr) = run_demo(&["--json", "--seed", "7"]);
    assert!(status.success(), "exit {status:?}\nstderr:\n{stderr}");
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is the JSON summary ({e}):\n{stdout}"));
    assert_eq!(report["seed"], 7);
    assert_eq!(report["faults"]["enabled"], true);
    check_outcomes_and_state(&report);

    let t = &report["traffic"];
    assert!(u(&t["rate_limited_429"]) > 0, "no 429 was injected: {t}");
    assert!(u(&t["server_errors_5xx"]) > 0, "no 5xx was injected: {t}");
    assert!(
        u(&t["tokens_issued"]) > 1,
        "the short-lived token was never refreshed: {t}"
    );
    assert!(u(&t["contact_batches"]) > 0, "{t}");
    assert!(u(&t["client_retries"]) > 0, "{t}");
}

#[test]
fn demo_without_faults_gets_the_same_outcomes_and_clean_traffic() {
    let (status, stdout, stderr) = run_demo(&["--json", "--no-faults", "--seed", "3"]);
    assert!(status.success(), "exit {status:?}\nstderr:\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON summary");
    check_outcomes_and_state(&report);
    let t = &report["traffic"];
    assert_eq!(u(&t["rate_limited_429"]), 0, "{t}");
    assert_eq!(u(&t["server_errors_5xx"]), 0, "{t}");
    assert_eq!(u(&t["conflicts_409"]), 0, "{t}");
    assert_eq!(u(&t["tokens_issued"]), 1, "{t}");
}

#[test]
fn demo_refuses_an_existing_journal_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("old.db");
    std::fs::write(&db, b"not a fresh journal").expect("write");
    let (status, stdout, stderr) = run_demo(&["--db", db.to_str().expect("utf-8 path")]);
    assert_eq!(
        status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("old.db") && stderr.contains("fresh journal"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&db).expect("still there"),
        b"not a fresh journal"
    );
}
