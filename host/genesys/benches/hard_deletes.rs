//! Hard deletes of 10,000 contacts, in one run, three ways, against the emulator:
//! one `DELETE …/contacts/{id}` per contact; `DELETE …/contacts?contactIds=` with 100 ids
//! per call; and `POST …/contacts/bulk/remove` jobs (1000 externalIds per job, each polled
//! to completion). Prints requests and seconds per way, and the time the same requests
//! would take at Genesys's default limit of 300 requests/minute per token.
//!
//! The emulator's limit is raised so the local run measures the requests themselves; the
//! bulk jobs process at the emulator's `bulk_job_records_per_sec` (20,000/s by default, a
//! setting — Genesys publishes no job speed), so the job seconds are the emulator's.
//!
//! Run: `cargo bench -p dialsync-genesys --bench hard_deletes`

use std::time::Duration;

use dialsync_emulator::{EmulatorConfig, RunningEmulator};
use dialsync_genesys::model::{ContactPhoneNumberColumn, WritableDialerContact};
use dialsync_genesys::{
    AddContactsOptions, ContactList, Endpoint, GenesysClient, OrgSettings, Secret,
};
use tokio::time::Instant;

const CONTACTS: usize = 10_000;
const GENESYS_PER_MINUTE: f64 = 300.0;

struct Row {
    way: &'static str,
    requests: u64,
    seconds: f64,
}

fn api_requests(emu: &RunningEmulator) -> u64 {
    emu.stats()
        .routes
        .iter()
        .filter(|r| r.route.starts_with("/api/"))
        .map(|r| r.count)
        .sum()
}

async fn load(client: &GenesysClient, list: &str) -> Vec<String> {
    let contacts: Vec<WritableDialerContact> = (0..CONTACTS)
        .map(|i| WritableDialerContact {
            id: Some(format!("hd-{i}")),
            contact_list_id: list.into(),
            data: [
                ("externalId".to_owned(), format!("HD_{i}")),
                ("mobilePhone".to_owned(), format!("+1415{i:07}")),
            ]
            .into(),
            ..Default::default()
        })
        .collect();
    for chunk in contacts.chunks(1000) {
        client
            .add_contacts(list, chunk, AddContactsOptions::default())
            .await
            .expect("load contacts");
    }
    (0..CONTACTS).map(|i| format!("hd-{i}")).collect()
}

async fn measure<F, Fut>(
    emu: &RunningEmulator,
    client: &GenesysClient,
    list: &str,
    way: &'static str,
    f: F,
) -> Row
where
    F: FnOnce(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let ids = load(client, list).await;
    let before = api_requests(emu);
    let started = Instant::now();
    f(ids).await;
    let seconds = started.elapsed().as_secs_f64();
    let left = emu.state().contact_list(list).map_or(0, |l| {
        l.contacts
            .iter()
            .filter(|c| c.id.starts_with("hd-"))
            .count()
    });
    assert_eq!(left, 0, "{way}: every contact removed");
    Row {
        way,
        requests: api_requests(emu) - before,
        seconds,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let emu = dialsync_emulator::start(
        EmulatorConfig {
            sample_org: true,
            rate_limit_per_minute: 10_000_000,
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("emulator starts");
    let mut settings = OrgSettings::new(
        "bench",
        Endpoint::BaseUrl(emu.base_url().parse().unwrap()),
        "dialsync",
        Secret::new("emulator-secret"),
    );
    settings.requests_per_minute = 10_000_000;
    settings.max_concurrency = 8;
    let client = GenesysClient::new(settings).unwrap();
    client.ensure_token().await.unwrap();
    // A list no campaign dials: Genesys skips contacts a dialer holds on bulk deletes.
    let list = client
        .create_contact_list(&ContactList {
            name: Some("hard deletes".into()),
            column_names: vec!["externalId".into(), "mobilePhone".into()],
            phone_columns: vec![ContactPhoneNumberColumn {
                column_name: "mobilePhone".into(),
                kind: Some("cell".into()),
                callable_time_column: None,
            }],
            ..Default::default()
        })
        .await
        .expect("create list")
        .id
        .expect("list id");
    let list = list.as_str();

    let mut rows = Vec::new();
    rows.push(
        measure(
            &emu,
            &client,
            list,
            "one by one (DELETE …/contacts/{id})",
            |ids| {
                let c = client.clone();
                async move {
                    // Eight in flight, as the sync engine's writers would.
                    use futures::StreamExt;
                    futures::stream::iter(ids)
                        .for_each_concurrent(8, |id| {
                            let c = c.clone();
                            async move { c.delete_contact(list, &id).await.expect("delete") }
                        })
                        .await;
                }
            },
        )
        .await,
    );
    rows.push(
        measure(
            &emu,
            &client,
            list,
            "DELETE …/contacts?contactIds= (100/call)",
            |ids| {
                let c = client.clone();
                async move { c.delete_contacts(list, &ids).await.expect("delete") }
            },
        )
        .await,
    );
    rows.push(
        measure(
            &emu,
            &client,
            list,
            "bulk/remove jobs (1000/job, polled)",
            |ids| {
                let c = client.clone();
                async move {
                    let externals: Vec<String> =
                        ids.iter().map(|id| format!("HD_{}", &id[3..])).collect();
                    c.bulk_remove_by_column(
                        list,
                        "externalId",
                        &externals,
                        Duration::from_secs(300),
                    )
                    .await
                    .expect("bulk remove");
                }
            },
        )
        .await,
    );
    println!("hard deletes of {CONTACTS} contacts (one run, emulator on loopback)");
    println!(
        "{:<44} {:>9} {:>10} {:>22}",
        "way", "requests", "seconds", "minutes at 300 req/min"
    );
    for r in &rows {
        println!(
            "{:<44} {:>9} {:>10.2} {:>22.1}",
            r.way,
            r.requests,
            r.seconds,
            r.requests as f64 / GENESYS_PER_MINUTE
        );
    }
    emu.shutdown().await;
}
