//! Hostile guests: the host survives, names the limit, and serves the next call.

use std::sync::Arc;
use std::time::Duration;

use dialsync_plugin_host::{
    FailureKind, GenesysPort, Limits, PortContact, PortError, RecordOutcome,
};
use futures::future::BoxFuture;
use serde_json::json;

use crate::{external_id, failure_kind, hostile, rec};

async fn assert_next_call_works(plugin: &dialsync_plugin_host::LoadedPlugin) {
    let out = plugin.map(&[rec("ok", "after")], None).await;
    assert_eq!(external_id(&out[0]), "h_after");
}

#[tokio::test]
async fn infinite_loop_runs_out_of_fuel() {
    let plugin = hostile(json!({})).await;
    let out = plugin.map(&[rec("loop", "1")], None).await;
    assert_eq!(failure_kind(&out[0]), FailureKind::OutOfFuel);
    let RecordOutcome::Failed(f) = &out[0] else {
        unreachable!()
    };
    assert_eq!(f.plugin, "hostile@0.1.0");
    assert_next_call_works(&plugin).await;
}

#[tokio::test]
async fn memory_growth_hits_the_cap() {
    let plugin = hostile(json!({})).await;
    let report = plugin.map_with_report(&[rec("grow", "1")], None).await;
    assert_eq!(failure_kind(&report.outcomes[0]), FailureKind::MemoryLimit);
    let cap = crate::runtime().limits().max_memory_bytes;
    assert!(
        report.stats.peak_memory_bytes <= cap,
        "peak {} over cap {cap}",
        report.stats.peak_memory_bytes
    );
    assert!(
        report.stats.peak_memory_bytes > cap / 2,
        "peak {} should approach the cap",
        report.stats.peak_memory_bytes
    );
    assert_next_call_works(&plugin).await;
}

#[tokio::test]
async fn trap_is_reported_with_its_message() {
    let plugin = hostile(json!({})).await;
    let out = plugin.map(&[rec("trap", "1")], None).await;
    assert_eq!(failure_kind(&out[0]), FailureKind::Trap);
    assert_next_call_works(&plugin).await;
}

#[tokio::test]
async fn oversized_output_is_refused() {
    let plugin = hostile(json!({})).await;
    let out = plugin.map(&[rec("huge", "1")], None).await;
    assert_eq!(failure_kind(&out[0]), FailureKind::OutputTooLarge);
    assert_next_call_works(&plugin).await;
}

#[tokio::test]
async fn a_failed_batch_is_isolated_to_its_culprits() {
    let plugin = hostile(json!({})).await;
    let records = [
        rec("ok", "a"),
        rec("trap", "b"),
        rec("ok", "c"),
        rec("loop", "d"),
        rec("ok", "e"),
    ];
    let report = plugin.map_with_report(&records, None).await;
    let out = &report.outcomes;
    assert_eq!(out.len(), 5);
    assert_eq!(external_id(&out[0]), "h_a");
    assert_eq!(failure_kind(&out[1]), FailureKind::Trap);
    assert_eq!(external_id(&out[2]), "h_c");
    assert_eq!(failure_kind(&out[3]), FailureKind::OutOfFuel);
    assert_eq!(external_id(&out[4]), "h_e");
    assert_eq!(
        report.stats.guest_calls, 6,
        "one batch call plus five isolated re-runs"
    );
    assert_eq!(report.stats.isolated_reruns, 5);
}

/// A batch bigger than `MAX_METERED_BATCH` runs on the unmetered variant,
/// bounded by the deadline; when it fails, its records are re-run one by one
/// with fuel, so a looping record still fails `out-of-fuel` alone.
#[tokio::test]
async fn a_big_batch_runs_unmetered_and_a_loop_in_it_still_fails_alone() {
    let limits = Limits {
        deadline: Duration::from_millis(500),
        ..crate::test_limits()
    };
    let plugin = crate::hostile_with(limits).await;
    let size = dialsync_plugin_host::MAX_METERED_BATCH + 6;
    let (looping, trapping) = (size / 3, size / 2);
    let records: Vec<_> = (0..size)
        .map(|i| match i {
            _ if i == looping => rec("loop", &i.to_string()),
            _ if i == trapping => rec("trap", &i.to_string()),
            _ => rec("ok", &i.to_string()),
        })
        .collect();
    let report = plugin.map_with_report(&records, None).await;
    assert_eq!(report.stats.unmetered_calls, 1, "{:?}", report.stats);
    assert_eq!(report.stats.isolated_reruns as usize, size);
    for (i, outcome) in report.outcomes.iter().enumerate() {
        match i {
            _ if i == looping => assert_eq!(failure_kind(outcome), FailureKind::OutOfFuel),
            _ if i == trapping => assert_eq!(failure_kind(outcome), FailureKind::Trap),
            _ => assert_eq!(external_id(outcome), format!("h_{i}")),
        }
    }

    // Healthy big batches: one unmetered call and no fuel counted, unless
    // the caller asks for fuel figures.
    let healthy: Vec<_> = (0..size).map(|i| rec("ok", &i.to_string())).collect();
    let fast = plugin.map_with_report(&healthy, None).await;
    assert_eq!((fast.stats.guest_calls, fast.stats.unmetered_calls), (1, 1));
    assert_eq!(fast.stats.fuel_used, 0);
    let metered = plugin.metered().map_with_report(&healthy, None).await;
    assert_eq!(
        (metered.stats.guest_calls, metered.stats.unmetered_calls),
        (1, 0)
    );
    assert!(metered.stats.fuel_used > 0);
    assert_eq!(fast.outcomes, metered.outcomes);
    // Small calls stay metered.
    let small = plugin.map_with_report(&healthy[..3], None).await;
    assert_eq!(small.stats.unmetered_calls, 0);
    assert!(small.stats.fuel_used > 0);
}

#[tokio::test]
async fn wrong_outcome_count_is_isolated() {
    let plugin = hostile(json!({})).await;
    let out = plugin.map(&[rec("ok", "a"), rec("short", "b")], None).await;
    assert_eq!(external_id(&out[0]), "h_a");
    assert_eq!(failure_kind(&out[1]), FailureKind::WrongOutcomeCount);
}

#[tokio::test]
async fn isolation_work_is_capped() {
    let limits = Limits {
        max_isolation_reruns: 2,
        ..crate::test_limits()
    };
    let plugin = crate::hostile_with(limits).await;
    let records = [
        rec("trap", "a"),
        rec("ok", "b"),
        rec("ok", "c"),
        rec("ok", "d"),
    ];
    let report = plugin.map_with_report(&records, None).await;
    assert_eq!(failure_kind(&report.outcomes[0]), FailureKind::Trap);
    assert_eq!(external_id(&report.outcomes[1]), "h_b");
    assert_eq!(failure_kind(&report.outcomes[2]), FailureKind::NotIsolated);
    assert_eq!(failure_kind(&report.outcomes[3]), FailureKind::NotIsolated);
    assert_eq!(report.stats.isolated_reruns, 2);
}

#[tokio::test]
async fn invalid_external_id_fails_the_contact_change_schema() {
    let plugin = hostile(json!({})).await;
    let out = plugin.map(&[rec("bad-id", "1")], None).await;
    let RecordOutcome::Failed(f) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(f.kind, FailureKind::InvalidOutput);
    assert!(f.message.contains("/externalId"), "{}", f.message);
}

#[tokio::test]
async fn undeclared_column_is_refused() {
    let plugin = hostile(json!({})).await;
    let out = plugin.map(&[rec("undeclared", "1")], None).await;
    let RecordOutcome::Failed(f) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(f.kind, FailureKind::InvalidOutput);
    assert!(f.message.contains("secret_column"), "{}", f.message);
}

#[tokio::test]
async fn log_flood_is_bounded() {
    let plugin = hostile(json!({})).await;
    let report = plugin.map_with_report(&[rec("log-flood", "1")], None).await;
    assert_eq!(external_id(&report.outcomes[0]), "h_1");
    assert_eq!(report.logs.len(), 1000);
    assert_eq!(report.logs_dropped, 19_000);
    assert!(report.logs[0].message.starts_with("flood line 0 "));
}

#[tokio::test]
async fn stdout_and_stderr_are_captured_into_the_log() {
    let plugin = hostile(json!({})).await;
    let report = plugin.map_with_report(&[rec("print", "1")], None).await;
    assert_eq!(external_id(&report.outcomes[0]), "h_1");
    let lines: Vec<(&str, &str)> = report
        .logs
        .iter()
        .map(|l| (l.level.as_str(), l.message.as_str()))
        .collect();
    assert!(
        lines.contains(&("stdout", "hello from hostile stdout")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&("stderr", "hello from hostile stderr")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn config_values_reach_the_guest() {
    let plugin = hostile(json!({"greeting": "hi there", "retries": 3})).await;
    let out = plugin.map(&[rec("config", "1")], None).await;
    assert_eq!(
        out[0],
        RecordOutcome::Skip {
            reason: r#"greeting=Some("hi there") retries=Some("3") missing=None"#.into()
        }
    );
}

#[tokio::test]
async fn phones_are_normalised_by_the_host() {
    let plugin = hostile(json!({})).await;
    let out = plugin
        .map(
            &[json!({"mode": "phone", "id": "1", "raw": "(415) 555-0100"})],
            None,
        )
        .await;
    let RecordOutcome::Change { changes } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(changes[0].phones[0].number, "+14155550100");
    let bad = plugin
        .map(
            &[json!({"mode": "phone", "id": "1", "raw": "not a phone"})],
            None,
        )
        .await;
    let RecordOutcome::Reject { errors } = &bad[0] else {
        panic!("{bad:?}")
    };
    assert_eq!(errors[0].field, "/raw");
}

/// An in-memory Genesys port: the real one lives in the `dialsync` crate and
/// needs a Genesys org; this test only checks the runtime forwards calls.
struct OneContact;

impl GenesysPort for OneContact {
    fn get_contact<'a>(
        &'a self,
        list_id: &'a str,
        contact_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<PortContact>, PortError>> {
        Box::pin(async move {
            Ok(Some(PortContact {
                id: contact_id.to_string(),
                contact_list_id: list_id.to_string(),
                data: Default::default(),
                callable: true,
            }))
        })
    }

    fn search_contacts<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PortContact>, PortError>> {
        Box::pin(async { Err(PortError::Forbidden("not this list".into())) })
    }
}

/// A port whose calls never finish, to prove the deadline covers host calls.
struct Hangs;

impl GenesysPort for Hangs {
    fn get_contact<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Option<PortContact>, PortError>> {
        Box::pin(futures::future::pending())
    }

    fn search_contacts<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PortContact>, PortError>> {
        Box::pin(futures::future::pending())
    }
}

#[tokio::test]
async fn genesys_calls_go_through_the_port() {
    let plugin = hostile(json!({})).await;
    let out = plugin.map(&[rec("genesys", "1")], None).await;
    let RecordOutcome::Skip { reason } = &out[0] else {
        panic!("{out:?}")
    };
    assert!(reason.starts_with("not-connected: "), "{reason}");
    let out = plugin
        .map(&[rec("genesys", "1")], Some(Arc::new(OneContact)))
        .await;
    assert_eq!(
        out[0],
        RecordOutcome::Skip {
            reason: "found c-1 in list-1".into()
        }
    );
}

#[tokio::test]
async fn deadline_covers_a_hung_host_call() {
    let limits = Limits {
        deadline: Duration::from_millis(200),
        ..crate::test_limits()
    };
    let plugin = crate::hostile_with(limits).await;
    let out = plugin
        .map(&[rec("genesys", "1")], Some(Arc::new(Hangs)))
        .await;
    assert_eq!(failure_kind(&out[0]), FailureKind::Deadline);
    assert_next_call_works(&plugin).await;
}

#[tokio::test]
async fn deadline_interrupts_a_loop_with_fuel_to_spare() {
    let limits = Limits {
        deadline: Duration::from_millis(200),
        fuel_per_record: u64::MAX / 4,
        ..crate::test_limits()
    };
    let plugin = crate::hostile_with(limits).await;
    let out = plugin.map(&[rec("loop", "1")], None).await;
    assert_eq!(failure_kind(&out[0]), FailureKind::Deadline);
    assert_next_call_works(&plugin).await;
}
