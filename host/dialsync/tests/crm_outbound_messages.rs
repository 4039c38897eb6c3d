//! Salesforce Outbound Messages exactly as Salesforce sends them (no `Authorization`
//! header; see `tests/fixtures/README.md` for the message's source), over real HTTP on
//! loopback into `dialsync serve` with scheme `salesforce-outbound`: accepted and acked
//! only when the URL token and the `OrganizationId` match; refused with a SOAP fault and
//! the right status, nothing stored, otherwise. The accepted contact reaches the Genesys
//! emulator.

mod server_support;

use server_support::*;

const MESSAGE: &str = include_str!("fixtures/salesforce-outbound-message.xml");

/// Org `00Dn00000008y2t` (the captured message's, given in its 15-character form) and a
/// second org in its 18-character form; the URL token is the harness's SN token.
fn extra(allowed_ips: &str) -> String {
    format!(
        r#"
[sources.salesforce-sfom]
plugin = "salesforce"
org = "acme"
contact_list_id = "list-sf"
[sources.salesforce-sfom.auth]
scheme = "salesforce-outbound"
secret_env = "{SN_TOKEN_ENV}"
organization_ids = ["00Dn00000008y2t", "00D5e000000KQ2eEAG"]
allowed_ips = [{allowed_ips}]
"#
    )
}

/// Posts `body` the way Salesforce does: SOAP content type, its client's user agent,
/// `SOAPAction: ""`, and no Authorization header.
async fn send(h: &Harness, path: &str, body: &str) -> (u16, String) {
    let resp = h
        .http
        .post(h.url(path))
        .header("content-type", "text/xml; charset=utf-8")
        .header("user-agent", "Jakarta Commons-HttpClient/3.1")
        .header("soapaction", "\"\"")
        .body(body.to_owned())
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_message_as_salesforce_sends_it_is_accepted_or_refused() {
    let h = Harness::start_with(&extra(r#""127.0.0.0/8""#)).await;
    let with_token = format!("/v1/sources/salesforce-sfom/events/{SN_TOKEN}");

    // No token at all: 401 with a SOAP Client fault, nothing stored.
    let (s, body) = send(&h, "/v1/sources/salesforce-sfom/events", MESSAGE).await;
    assert_eq!(s, 401, "{body}");
    assert!(
        body.contains("<faultcode>soapenv:Client</faultcode>"),
        "{body}"
    );
    assert!(body.contains("carries no token"), "{body}");
    assert_eq!(h.journal_count(), 0);

    // A wrong token (path or query): 401, and the expected token is never echoed.
    let (s, body) = send(
        &h,
        "/v1/sources/salesforce-sfom/events/not-the-right-token-x",
        MESSAGE,
    )
    .await;
    assert_eq!(s, 401, "{body}");
    assert!(!body.contains(SN_TOKEN), "{body}");
    let (s, _) = send(
        &h,
        "/v1/sources/salesforce-sfom/events?token=not-the-right-token-x",
        MESSAGE,
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(h.journal_count(), 0);

    // Right token, another org: 403 with a Client fault naming the org, nothing stored.
    let other_org = MESSAGE.replace("00Dn00000008y2tEAA", "00Dn00000008y2uEAA");
    let (s, body) = send(&h, &with_token, &other_org).await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body.contains("<faultcode>soapenv:Client</faultcode>"),
        "{body}"
    );
    assert!(body.contains("00Dn00000008y2uEAA"), "{body}");
    assert_eq!(h.journal_count(), 0);

    // The message as sent, token in the path: acked once durable.
    let (s, body) = send(&h, &with_token, MESSAGE).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("<Ack>true</Ack>"), "{body}");
    assert_eq!(h.journal_count(), 1);

    // Salesforce redelivers (at least once): acked again, journalled once.
    let query = format!("/v1/sources/salesforce-sfom/events?token={SN_TOKEN}");
    let (s, body) = send(&h, &query, MESSAGE).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("<Ack>true</Ack>"), "{body}");
    assert_eq!(h.journal_count(), 1);

    h.wait_idle().await;
    let contacts = contacts_by_external_id(&h.emulator, "list-sf");
    let contact = contacts
        .values()
        .find(|c| c.data.get("lastName").and_then(|v| v.as_str()) == Some("JONES"))
        .unwrap_or_else(|| panic!("the Outbound Message's contact is in list-sf: {contacts:?}"));
    assert!(contact.callable);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_message_from_outside_the_ip_allowlist_is_refused() {
    // Salesforce's ranges only: the loopback test client is outside them.
    let h = Harness::start_with(&extra(r#""13.108.0.0/14", "160.8.0.0/16""#)).await;
    let (s, body) = send(
        &h,
        &format!("/v1/sources/salesforce-sfom/events/{SN_TOKEN}"),
        MESSAGE,
    )
    .await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("127.0.0.1"), "{body}");
    assert!(body.contains("allowed_ips"), "{body}");
    assert_eq!(h.journal_count(), 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_scheme_config_errors_name_the_key() {
    set_env();
    let emulator = start_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let bad = extra("").replace("\"00D5e000000KQ2eEAG\"", "\"00D5e000000KQ2eAAA\"");
    let path = write_config(dir.path(), &emulator.base_url(), &bad);
    let config = dialsync::config::Config::load(&path).unwrap();
    let err = dialsync::server::AppState::build(
        &config,
        dialsync::plugin_registry::Registry::new(&dir.path().join("home")),
    )
    .await
    .err()
    .expect("a wrong checksum suffix is refused");
    let text = err.to_string();
    assert!(
        text.starts_with("sources.salesforce-sfom.auth:") && text.contains("organization_ids[1]"),
        "{text}"
    );
    assert!(!text.contains(SN_TOKEN));
    emulator.shutdown().await;
}
