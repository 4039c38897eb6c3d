//! Data actions a plugin declares in `describe` are served as
//! `/v1/actions/<source>.<action>` over real HTTP and run in the plugin's sandbox; an
//! action the plugin does not declare is never dispatched to it.

mod server_support;

use serde_json::{Value, json};
use server_support::*;

async fn call(h: &Harness, action: &str, input: Value) -> (u16, Value) {
    let resp = h
        .http
        .post(h.url(&format!("/v1/actions/{action}")))
        .bearer_auth(ACTIONS_TOKEN)
        .json(&input)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_declared_actions_run_in_the_sandbox() {
    // The runtime's test guest declares one action, `echo`.
    let wasm_dir = tempfile::tempdir().unwrap();
    let wasm = wasm_dir.path().join("hostile.wasm");
    std::fs::write(&wasm, dialsync_bundled_plugins::testing::HOSTILE).unwrap();
    let extra = format!(
        "[sources.hostile]\nplugin = \"{}\"\norg = \"acme\"\ncontact_list_id = \"list-hostile\"\n",
        wasm.display()
    );
    let h = Harness::start_with(&extra).await;

    let input = json!({"greeting": "hello", "count": 3});
    let (status, body) = call(&h, "hostile.echo", input.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, input);

    // Its declared input contract (`{"type": "object"}`) is enforced before the call.
    let (status, body) = call(&h, "hostile.echo", json!([1, 2])).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "bad-input");

    let (status, body) = call(&h, "hostile.nope", json!({})).await;
    assert_eq!(status, 404, "{body}");

    // The guest would trap on `trap`, but it does not declare it: the host refuses.
    let (status, body) = call(&h, "hostile.trap", json!({})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "unknown-action");

    let (status, body) = call(&h, "hostile.echo", json!({"again": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"again": true}));
    h.stop().await;
}
