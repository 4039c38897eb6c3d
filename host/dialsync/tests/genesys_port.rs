//! A plugin's `genesys` WIT import reaches Genesys Cloud through the host's client:
//! the real runtime, the real (hostile test) guest, the real client and the emulator
//! over loopback — and only for the source's own contact lists.

use std::sync::Arc;

use dialsync::genesys_port::SourceGenesysPort;
use dialsync_emulator::{EmulatorConfig, Fixtures};
use dialsync_genesys::{Endpoint, GenesysClient, OrgSettings, Secret};
use dialsync_plugin_host::{CompileCache, Limits, RecordOutcome, Runtime};
use serde_json::json;

fn fixtures() -> Fixtures {
    serde_json::from_value(json!({
        "contactLists": [{
            "id": "list-1",
            "name": "Port test",
            "columnNames": ["externalId", "mobilePhone"],
            "phoneColumns": [{"columnName": "mobilePhone", "type": "cell"}],
            "contacts": [{"id": "c-1", "data": {"externalId": "A1", "mobilePhone": "+14155550100"}}]
        }]
    }))
    .expect("fixtures")
}

async fn skip_reason(runtime: &Runtime, port: SourceGenesysPort) -> String {
    let plugin = runtime
        .load(dialsync_bundled_plugins::testing::HOSTILE, json!({}))
        .await
        .expect("hostile guest loads");
    let outcomes = plugin
        .map(&[json!({"mode": "genesys"})], Some(Arc::new(port)))
        .await;
    match &outcomes[..] {
        [RecordOutcome::Skip { reason }] => reason.clone(),
        other => panic!("expected one skip, got {other:?}"),
    }
}

#[tokio::test]
async fn plugin_reads_its_own_list_through_the_client_and_nothing_else() {
    let config = EmulatorConfig {
        fixtures: Some(fixtures()),
        ..EmulatorConfig::default()
    };
    let emu = dialsync_emulator::start(config.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts");
    let endpoint = Endpoint::BaseUrl(emu.base_url().parse().unwrap());
    let client = GenesysClient::new(OrgSettings::new(
        "port-test",
        endpoint,
        config.client_id.clone(),
        Secret::new(config.client_secret.clone()),
    ))
    .expect("client");
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(Limits {
        compile_cache: CompileCache::Dir(cache.path().to_path_buf()),
        ..Limits::default()
    })
    .expect("runtime");

    let own = SourceGenesysPort::new(client.clone(), ["list-1".to_string()]);
    assert_eq!(skip_reason(&runtime, own).await, "found c-1 in list-1");
    let route = "/api/v2/outbound/contactlists/{contactListId}/contacts/{contactId}";
    assert_eq!(emu.stats().count("GET", route, 200), 1);

    // Another tenant's list is refused by the host before any request is made.
    let other = SourceGenesysPort::new(client, ["list-2".to_string()]);
    let reason = skip_reason(&runtime, other).await;
    assert!(reason.starts_with("forbidden: "), "{reason}");
    assert_eq!(emu.stats().route_total("GET", route), 1);
    emu.shutdown().await;
}
