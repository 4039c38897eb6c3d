//! Loading: identity, caching, and the typed errors for bad plugins and bad config.

use dialsync_plugin_host::{PluginError, RecordOutcome, Runtime};
use serde_json::json;

use crate::{hostile, rec};

#[tokio::test]
async fn same_bytes_same_sha256_and_a_cache_hit() {
    let runtime = Runtime::new(crate::test_limits()).unwrap();
    let bytes = dialsync_bundled_plugins::testing::HOSTILE;
    let a = runtime.load(bytes, json!({})).await.unwrap();
    let b = runtime.load(bytes, json!({"greeting": "x"})).await.unwrap();
    assert_eq!(a.sha256(), b.sha256());
    assert_eq!(a.sha256().len(), 64);
    let stats = runtime.cache_stats();
    assert_eq!((stats.misses, stats.hits, stats.entries), (1, 1, 1));
    assert_eq!(a.info().name, "hostile");
    assert_eq!(a.info().version, "0.1.0");
    assert_eq!(a.info().phone_columns, vec!["phone".to_string()]);
}

#[tokio::test]
async fn not_wasm_is_not_a_component() {
    let err = crate::runtime()
        .load(b"hello, world", json!({}))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, PluginError::NotAComponent(_)), "{err}");
}

#[tokio::test]
async fn a_core_module_is_not_a_component() {
    // The smallest valid core module: magic + version 1, no sections.
    let err = crate::runtime()
        .load(b"\0asm\x01\0\0\0", json!({}))
        .await
        .err()
        .unwrap();
    let PluginError::NotAComponent(message) = &err else {
        panic!("{err}")
    };
    assert!(message.contains("wasm32-wasip2"), "{message}");
}

#[tokio::test]
async fn a_component_of_another_world_is_refused() {
    // A component with no imports and no exports: valid, but not a `mapper`.
    let err = crate::runtime()
        .load(b"\0asm\x0d\0\x01\0", json!({}))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, PluginError::WrongWorld(_)), "{err}");
}

#[tokio::test]
async fn truncated_component_does_not_compile() {
    let bytes = dialsync_bundled_plugins::testing::HOSTILE;
    let err = crate::runtime()
        .load(&bytes[..bytes.len() / 2], json!({}))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, PluginError::Compile(_)), "{err}");
}

#[tokio::test]
async fn config_is_validated_against_the_config_schema() {
    let err = crate::runtime()
        .load(
            dialsync_bundled_plugins::testing::HOSTILE,
            json!({"greeting": 5, "bogus": true}),
        )
        .await
        .err()
        .unwrap();
    let PluginError::InvalidConfig { plugin, errors } = &err else {
        panic!("{err}")
    };
    assert_eq!(plugin, "hostile@0.1.0");
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"/greeting"), "{errors:?}");
    assert!(fields.contains(&"/bogus"), "{errors:?}");
    let msg = err.to_string();
    assert!(msg.contains("/greeting"), "{msg}");

    let err = crate::runtime()
        .load(
            dialsync_bundled_plugins::testing::HOSTILE,
            json!(["not", "an", "object"]),
        )
        .await
        .err()
        .unwrap();
    assert!(matches!(err, PluginError::InvalidConfig { .. }), "{err}");

    // null means "no configuration".
    crate::runtime()
        .load(
            dialsync_bundled_plugins::testing::HOSTILE,
            serde_json::Value::Null,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn input_schema_errors_name_the_record_and_pointer() {
    let plugin = hostile(json!({})).await;
    let records = [
        rec("ok", "1"),
        json!({"id": 7}),
        rec("ok", "3"),
        json!("just a string"),
    ];
    let out = plugin.map(&records, None).await;
    assert!(matches!(out[0], RecordOutcome::Change { .. }));
    let RecordOutcome::Reject { errors } = &out[1] else {
        panic!("{out:?}")
    };
    assert!(errors.iter().any(|e| e.field == "/id"), "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|e| e.field == "/mode" && e.code == "missing"),
        "{errors:?}"
    );
    assert!(matches!(out[2], RecordOutcome::Change { .. }));
    let RecordOutcome::Reject { errors } = &out[3] else {
        panic!("{out:?}")
    };
    assert!(errors[0].message.contains("object"), "{errors:?}");
}

#[tokio::test]
async fn the_plugin_can_reject_a_record() {
    let plugin = hostile(json!({})).await;
    let out = plugin.map(&[rec("nonsense", "1")], None).await;
    let RecordOutcome::Reject { errors } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(errors[0].field, "/mode");
    assert_eq!(errors[0].code, "invalid-value");
}
