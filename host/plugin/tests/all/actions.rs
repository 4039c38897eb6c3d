//! Plugin data actions.

use serde_json::json;

use crate::hostile;

#[tokio::test]
async fn actions_run_and_fail_cleanly() {
    let plugin = hostile(json!({})).await;
    assert_eq!(plugin.info().actions[0].name, "echo");
    let out = plugin.action("echo", json!({"a": 1}), None).await.unwrap();
    assert_eq!(out, json!({"a": 1}));

    let err = plugin.action("missing", json!({}), None).await.unwrap_err();
    assert_eq!(err.code, "not-found");

    let err = plugin
        .action("echo", json!("not an object"), None)
        .await
        .unwrap_err();
    assert_eq!(err.code, "bad-input");
}
