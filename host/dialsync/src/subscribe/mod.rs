//! Salesforce Change Data Capture over the Pub/Sub API (gRPC): `[sources.X.subscribe]`.
//!
//! One subscriber task per source (started by `dialsync serve`, or [`run`]):
//!
//! 1. OAuth client credentials at the org's My Domain (the pull module's Salesforce
//!    client) give the access token, the `instance_url` and — from the identity URL
//!    `id` — the org id; every gRPC call carries them as `accesstoken`, `instanceurl`,
//!    `tenantid` metadata.
//! 2. `GetTopic` checks the topic; `Subscribe` starts after the stored replay id
//!    (`CUSTOM`), or at `LATEST` / `EARLIEST` (`start_at`) when none is stored. Flow
//!    control: `num_requested` events per `FetchRequest`; the next request goes out
//!    once the server reports none pending, after the batch is durable.
//! 3. Each event's Avro payload is decoded with its schema (`GetSchema`, cached by
//!    schema id) and its bitmaps decoded against it ([`bitmap`], [`event`]), so an
//!    UPDATE carries only its changed fields and nulls in unchanged fields are not read
//!    as "cleared". `GAP_*`, `UNDELETE` and diff-encoded UPDATEs are re-fetched through
//!    the REST API; a `GAP_OVERFLOW`, and an event that does not decode, re-read the
//!    object's records changed since the events before it ([`refetch`], rate-limited
//!    per org), so no change is skipped. Everything goes through the source's plugin
//!    into the journal by [`crate::pull::ingest`].
//! 4. Only then are the batch's last replay id and its event keys checkpointed
//!    ([`replay`]); events whose `transactionKey/sequenceNumber` was checkpointed before
//!    are dropped as duplicates.
//! 5. A failed stream (network, `UNAVAILABLE`, an expired token, a journal error) is
//!    reconnected with doubling, jittered backoff from the checkpoint, so nothing
//!    acknowledged is lost and nothing durable is replayed except, after a crash, the
//!    one batch between its journal commit and its checkpoint.
//!
//! On a PostgreSQL store the checkpoint is shared and each task first waits for its
//! (source, topic)'s subscriber lock ([`replay::ReplayStore::subscriber_lock`]): every
//! worker may run the same subscription, one subscribes, and another takes over from
//! the checkpoint when it stops or dies. A task whose lock was lost with its connection
//! stops before its next checkpoint and waits for the lock again.

pub mod bitmap;
pub mod event;
pub mod refetch;
pub mod replay;
pub mod settings;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use dialsync_pubsub_api::pub_sub_client::PubSubClient;
use dialsync_pubsub_api::{FetchRequest, FetchResponse, ReplayPreset, SchemaRequest, TopicRequest};
use serde_json::Value;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

pub use settings::{StartAt, SubscribeConfig};

use crate::pull::salesforce::{Identity, SalesforceClient};
use crate::pull::{CrmError, IngestCounts, http, ingest};
use crate::server::AppState;
use crate::server::state::SourceState;
use event::{Action, Decoded, EventError, SchemaCache};
use replay::{ReplayError, ReplayStore, SubscriberLock};

/// Why a subscription session ended.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// Settings, the REST side (token, re-fetch) or the journal.
    #[error(transparent)]
    Crm(#[from] CrmError),
    /// The Pub/Sub endpoint could not be reached.
    #[error("Pub/Sub endpoint {url}: {message}")]
    Connect {
        /// The endpoint.
        url: String,
        /// What failed.
        message: String,
    },
    /// A gRPC call failed.
    #[error("Pub/Sub {call}: {code:?}: {message}")]
    Grpc {
        /// The RPC.
        call: &'static str,
        /// The gRPC status code.
        code: tonic::Code,
        /// The server's message.
        message: String,
    },
    /// A schema could not be used.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The checkpoint could not be read or stored.
    #[error(transparent)]
    Checkpoint(#[from] ReplayError),
}

fn grpc(call: &'static str) -> impl Fn(tonic::Status) -> SubscribeError {
    move |s| SubscribeError::Grpc {
        call,
        code: s.code(),
        message: s.message().to_owned(),
    }
}

/// A source's subscription: settings and the org's REST client (token, re-fetches).
pub struct Subscription {
    /// `[sources.X.subscribe]`.
    pub config: SubscribeConfig,
    client: SalesforceClient,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.config.topic)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// Checks `[sources.<source>.subscribe]` and builds its REST client (the secret
    /// from the environment); errors name the key.
    pub fn new(source: &str, config: &SubscribeConfig) -> Result<Self, CrmError> {
        config
            .validate(source)
            .map_err(|message| CrmError::Config {
                key: format!("sources.{source}.subscribe"),
                message,
            })?;
        http::secret_env(
            &format!("sources.{source}.subscribe.client_secret_env"),
            Some(&config.client_secret_env),
        )?;
        Ok(Self {
            config: config.clone(),
            client: SalesforceClient::new(source, &config.rest())?,
        })
    }
}

/// Builds a source's subscription, if configured.
pub fn build(
    source: &str,
    config: Option<&SubscribeConfig>,
) -> Result<Option<Arc<Subscription>>, CrmError> {
    config
        .map(|c| Subscription::new(source, c).map(Arc::new))
        .transpose()
}

/// Adds the session's metadata to every call.
#[derive(Clone)]
struct Session(MetadataMap);

impl Interceptor for Session {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        for kv in self.0.iter() {
            if let tonic::metadata::KeyAndValueRef::Ascii(k, v) = kv {
                req.metadata_mut().insert(k.clone(), v.clone());
            }
        }
        Ok(req)
    }
}

fn session_metadata(id: &Identity, source: &str) -> Result<MetadataMap, CrmError> {
    let org = id.org_id.as_deref().ok_or_else(|| CrmError::Config {
        key: format!("sources.{source}.subscribe.base_url"),
        message: "the token answer names no org id (`id` identity URL)".into(),
    })?;
    let value = |v: &str| {
        AsciiMetadataValue::try_from(v).map_err(|_| CrmError::Config {
            key: format!("sources.{source}.subscribe"),
            message: "the session has a value not allowed in gRPC metadata".into(),
        })
    };
    let mut md = MetadataMap::new();
    md.insert("accesstoken", value(&id.token)?);
    md.insert("instanceurl", value(&id.instance_url)?);
    md.insert("tenantid", value(org)?);
    Ok(md)
}

type Client = PubSubClient<InterceptedService<Channel, Session>>;

/// Events per outcome, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Events received.
    pub received: u64,
    /// Events dropped as already handled.
    pub duplicates: u64,
    /// Events that could not be decoded (logged with replay id and reason; the records
    /// they may have changed are re-read).
    pub undecodable: u64,
    /// Records re-fetched through REST for GAP / UNDELETE / diff events.
    pub refetched: u64,
    /// Re-reads of the object's recent changes (`GAP_OVERFLOW`, undecodable events).
    pub resyncs: u64,
    /// Events not handed on because a re-fetch already read a newer state of their
    /// records.
    pub covered: u64,
    /// What the plugin and journal made of the records.
    pub counts: IngestCounts,
}

struct Runner<'a> {
    state: &'a Arc<AppState>,
    src: &'a SourceState,
    sub: &'a Subscription,
    store: ReplayStore,
    schemas: SchemaCache,
    progress: Progress,
    /// Ask for a new token on the next connect (the last one was refused).
    refresh: bool,
    /// Records re-fetched ahead of the stream: Id → the `SystemModstamp` (epoch ms)
    /// read. A later event for the record committed at or before it is already in that
    /// state and is not handed on (an older partial change after a full re-read would
    /// only be stale, or refused after a delete). Entries go once the stream passes them.
    covered: std::collections::HashMap<String, i64>,
    /// The newest commit time of the events decoded so far (bounds what an undecodable
    /// event after them can have changed).
    newest_commit_ms: Option<i64>,
    /// The right to subscribe (PostgreSQL: held by one worker at a time).
    lock: Option<SubscriberLock>,
}

/// Runs `source`'s subscription until `stop` turns true, reconnecting with backoff
/// after failures; returns what it did. A batch being handled when `stop` turns true
/// is finished (made durable and checkpointed) first.
pub async fn run(
    state: Arc<AppState>,
    source: &str,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Progress, SubscribeError> {
    let src = state.sources.get(source).ok_or_else(|| CrmError::Config {
        key: format!("sources.{source}"),
        message: "no such source".into(),
    })?;
    let sub = src.subscribe.as_ref().ok_or_else(|| CrmError::Config {
        key: format!("sources.{source}.subscribe"),
        message: "the source has no [sources.X.subscribe] table".into(),
    })?;
    let mut runner = Runner {
        state: &state,
        src,
        sub,
        store: match &state.pg {
            Some(pool) => ReplayStore::postgres(pool.clone()),
            None => ReplayStore::open(&state.store_path)?,
        },
        schemas: SchemaCache::default(),
        progress: Progress::default(),
        refresh: false,
        covered: Default::default(),
        newest_commit_ms: None,
        lock: None,
    };
    let (min, max) = (
        Duration::from_millis(sub.config.reconnect_min_ms),
        Duration::from_millis(sub.config.reconnect_max_ms),
    );
    let topic = sub.config.topic.clone();
    let mut delay = min;
    loop {
        if *stop.borrow() {
            break;
        }
        if runner.lock.as_ref().is_none_or(|l| !l.is_held()) {
            // One subscriber per (source, topic) across the workers of a PostgreSQL
            // store: wait for the lock; the holder's checkpoint is where this resumes.
            runner.lock = None;
            let waited = tokio::select! {
                l = runner.store.subscriber_lock(source, &topic) => l,
                _ = stop.wait_for(|s| *s) => break,
            };
            match waited {
                Ok(lock) => {
                    if matches!(runner.store, ReplayStore::Postgres(_)) {
                        tracing::info!(
                            source,
                            topic,
                            "this worker holds the Pub/Sub subscriber lock and subscribes"
                        );
                    }
                    runner.lock = Some(lock);
                }
                Err(e) => {
                    let wait = delay.mul_f64(rand::random_range(0.8..1.2));
                    tracing::warn!(source, error = %e, retry_in_ms = wait.as_millis() as u64, "could not wait for the Pub/Sub subscriber lock; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                    delay = (delay * 2).min(max);
                    continue;
                }
            }
        }
        let before = runner.progress.received;
        let ended = runner.session(&mut stop).await;
        if let Err(SubscribeError::Grpc {
            code: tonic::Code::Unauthenticated,
            ..
        }) = &ended
        {
            // The token expired or was revoked: the next session asks for a new one.
            runner.refresh = true;
        }
        if *stop.borrow() {
            if let Err(e) = ended {
                tracing::warn!(source, error = %e, "Pub/Sub subscription failed while stopping");
            }
            break;
        }
        if runner.progress.received > before {
            delay = min;
        }
        let wait = delay.mul_f64(rand::random_range(0.8..1.2));
        match ended {
            Ok(()) => tracing::info!(source, "Pub/Sub stream ended; reconnecting"),
            Err(e) => {
                tracing::warn!(source, error = %e, retry_in_ms = wait.as_millis() as u64, "Pub/Sub subscription failed; reconnecting from the checkpoint");
                metrics::counter!("dialsync_pubsub_reconnects_total", "source" => source.to_owned()).increment(1);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        delay = (delay * 2).min(max);
    }
    // The last batch is checkpointed: a waiting worker may take over.
    if let Some(lock) = runner.lock.take() {
        lock.release().await;
    }
    Ok(runner.progress)
}

impl Runner<'_> {
    fn name(&self) -> &str {
        &self.src.name
    }

    /// Fails if the subscriber lock was lost with its connection (another worker may
    /// subscribe now), so this one stops before it writes the shared checkpoint.
    fn check_lock(&self, topic: &str) -> Result<(), ReplayError> {
        if self.lock.as_ref().is_some_and(|l| !l.is_held()) {
            return Err(ReplayError::LockLost {
                crm: self.name().to_owned(),
                topic: topic.to_owned(),
            });
        }
        Ok(())
    }

    async fn connect(&mut self) -> Result<Client, SubscribeError> {
        let url = &self.sub.config.pubsub_url;
        let conn_err = |e: &dyn std::fmt::Display| SubscribeError::Connect {
            url: url.clone(),
            message: e.to_string(),
        };
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| conn_err(&e))?
            .connect_timeout(Duration::from_secs(10))
            .http2_keep_alive_interval(Duration::from_secs(60));
        if url.starts_with("https://") {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_webpki_roots())
                .map_err(|e| conn_err(&e))?;
        }
        let channel = endpoint.connect().await.map_err(|e| conn_err(&e))?;
        let identity = self.sub.client.identity(self.refresh).await?;
        self.refresh = false;
        let md = session_metadata(&identity, self.name())?;
        Ok(PubSubClient::with_interceptor(channel, Session(md))
            .max_decoding_message_size(64 * 1024 * 1024))
    }

    /// One connection: subscribe from the checkpoint and handle batches until the
    /// stream ends, fails or `stop` turns true.
    async fn session(
        &mut self,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), SubscribeError> {
        let mut client = self.connect().await?;
        let topic = self.sub.config.topic.clone();
        let info = client
            .get_topic(TopicRequest {
                topic_name: topic.clone(),
            })
            .await
            .map_err(grpc("GetTopic"))?
            .into_inner();
        if !info.can_subscribe {
            return Err(SubscribeError::Grpc {
                call: "GetTopic",
                code: tonic::Code::PermissionDenied,
                message: format!(
                    "the integration user may not subscribe to {topic} (enable Change Data Capture for the object and grant the user \"View All Data\" or the object's read access)"
                ),
            });
        }
        let num_requested = self.sub.config.num_requested;
        let first = match self.store.get(self.name(), &topic).await? {
            Some(replay_id) => FetchRequest {
                topic_name: topic.clone(),
                replay_preset: ReplayPreset::Custom as i32,
                replay_id,
                num_requested,
                auth_refresh: String::new(),
            },
            None => FetchRequest {
                topic_name: topic.clone(),
                replay_preset: match self.sub.config.start_at {
                    StartAt::Latest => ReplayPreset::Latest,
                    StartAt::Earliest => ReplayPreset::Earliest,
                } as i32,
                replay_id: Vec::new(),
                num_requested,
                auth_refresh: String::new(),
            },
        };
        let (requests, rx) = tokio::sync::mpsc::channel::<FetchRequest>(4);
        let _ = requests.send(first).await;
        let mut stream = client
            .subscribe(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .map_err(grpc("Subscribe"))?
            .into_inner();
        tracing::info!(source = self.name(), topic, "Pub/Sub subscription open");
        loop {
            let msg = tokio::select! {
                m = stream.message() => m,
                _ = stop.wait_for(|s| *s) => return Ok(()),
            };
            let Some(resp) = msg.map_err(grpc("Subscribe"))? else {
                return Ok(());
            };
            let pending = resp.pending_num_requested;
            self.batch(&mut client, &topic, resp).await?;
            if pending <= 0 {
                let more = FetchRequest {
                    topic_name: topic.clone(),
                    num_requested,
                    ..FetchRequest::default()
                };
                if requests.send(more).await.is_err() {
                    return Ok(());
                }
            }
        }
    }

    /// Decodes, dedups, re-fetches and journals one `FetchResponse`, then checkpoints.
    async fn batch(
        &mut self,
        client: &mut Client,
        topic: &str,
        resp: FetchResponse,
    ) -> Result<(), SubscribeError> {
        let source = self.name().to_owned();
        if resp.events.is_empty() {
            // A keepalive: Salesforce reports the newest replay id of the channel, which
            // is safe to resume after (nothing before it is pending here).
            if !resp.latest_replay_id.is_empty() {
                self.check_lock(topic)?;
                self.store
                    .commit(&source, topic, &resp.latest_replay_id, &[], now_ms())
                    .await?;
            }
            return Ok(());
        }
        let last_replay = resp
            .events
            .last()
            .map(|e| e.replay_id.clone())
            .unwrap_or_default();
        let mut decoded: Vec<Decoded> = Vec::with_capacity(resp.events.len());
        // An undecodable event's changes are not lost: the object's records modified
        // since the events before it are re-read (as for a GAP_OVERFLOW) before the
        // checkpoint moves past it.
        let mut reread_from: Option<i64> = None;
        for ev in resp.events {
            self.progress.received += 1;
            let Some(pe) = ev.event else {
                let from = self.undecodable(&ev.replay_id, "the ConsumerEvent has no event");
                reread_from = Some(reread_from.map_or(from, |f| f.min(from)));
                continue;
            };
            if self.schemas.get(&pe.schema_id).is_none() {
                let info = client
                    .get_schema(SchemaRequest {
                        schema_id: pe.schema_id.clone(),
                    })
                    .await
                    .map_err(grpc("GetSchema"))?
                    .into_inner();
                self.schemas.insert(&pe.schema_id, &info.schema_json)?;
            }
            let schema = self
                .schemas
                .get(&pe.schema_id)
                .ok_or_else(|| EventError::Schema {
                    schema_id: pe.schema_id.clone(),
                    message: "missing from the cache".into(),
                })?;
            match event::decode(topic, &pe.schema_id, schema, &ev.replay_id, &pe.payload) {
                Ok(d) => {
                    self.newest_commit_ms = self.newest_commit_ms.max(Some(d.commit_ms));
                    decoded.push(d);
                }
                Err(e) => {
                    let from = self.undecodable(&ev.replay_id, &e.to_string());
                    reread_from = Some(reread_from.map_or(from, |f| f.min(from)));
                }
            }
        }
        // Dedup: against the checkpointed keys and within the batch.
        let keys: Vec<String> = decoded.iter().map(|d| d.key.clone()).collect();
        let seen = self.store.seen(&source, &keys).await?;
        let mut fresh = HashSet::new();
        decoded.retain(|d| !seen.contains(&d.key) && fresh.insert(d.key.clone()));
        let dups = (keys.len() - decoded.len()) as u64;
        self.progress.duplicates += dups;
        if dups > 0 {
            tracing::info!(
                source,
                duplicates = dups,
                "Pub/Sub events already handled were dropped"
            );
        }
        let mut records: Vec<Value> = Vec::with_capacity(decoded.len());
        let object = self.sub.client.object.clone();
        for d in &decoded {
            self.covered.retain(|_, stamp| *stamp >= d.commit_ms);
            let covered = !d.ids.is_empty()
                && d.ids
                    .iter()
                    .all(|id| self.covered.get(id).is_some_and(|s| *s >= d.commit_ms));
            if covered {
                self.progress.covered += 1;
                continue;
            }
            match &d.action {
                Action::Map(envelope) => records.push(envelope.clone()),
                Action::Refetch { ids, deleted } if d.entity == object => {
                    let org = self.org().await?;
                    let fetched = refetch::records(
                        &self.sub.client,
                        &org,
                        self.sub.config.refetch_per_second,
                        ids,
                        *deleted,
                        d.commit_ms,
                    )
                    .await?;
                    tracing::info!(source, change_type = %d.change_type, ids = ids.len(), fetched = fetched.len(), "re-fetched the records a change event named");
                    self.progress.refetched += fetched.len() as u64;
                    for r in &fetched {
                        if let (Some(id), Some(stamp)) = (
                            r.get("Id").and_then(Value::as_str),
                            r.get("SystemModstamp")
                                .and_then(Value::as_str)
                                .and_then(stamp_ms),
                        ) {
                            self.covered.insert(id.to_owned(), stamp);
                        }
                    }
                    records.extend(fetched);
                }
                Action::Resync if d.entity == object => {
                    self.resync(d.commit_ms, "GAP_OVERFLOW").await?;
                }
                _ => {
                    tracing::info!(source, entity = %d.entity, change_type = %d.change_type, "a change event for another object was skipped")
                }
            }
        }
        let counts = ingest(self.state, self.src, &records).await?;
        self.progress.counts += counts;
        if let Some(from) = reread_from {
            self.resync(from, "an undecodable event").await?;
        }
        metrics::counter!("dialsync_pubsub_events_total", "source" => source.clone())
            .increment(decoded.len() as u64);
        self.check_lock(topic)?;
        self.store
            .commit(&source, topic, &last_replay, &keys, now_ms())
            .await?;
        Ok(())
    }

    async fn org(&self) -> Result<String, SubscribeError> {
        let id = self.sub.client.identity(false).await?;
        Ok(id
            .org_id
            .unwrap_or_else(|| self.sub.config.base_url.clone()))
    }

    /// `GAP_OVERFLOW` (or an undecodable event): re-reads the object's records modified
    /// since `commit_ms` minus `overflow_lookback_secs`, page by page through the plugin.
    async fn resync(&mut self, commit_ms: i64, why: &str) -> Result<(), SubscribeError> {
        let from_ms = commit_ms - (self.sub.config.overflow_lookback_secs as i64) * 1000;
        let from = chrono::DateTime::from_timestamp_millis(from_ms)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
            .to_string();
        let org = self.org().await?;
        refetch::acquire(&org, self.sub.config.refetch_per_second).await;
        let (state, src) = (self.state, self.src);
        let (read, counts) = self
            .sub
            .client
            .sweep(Some(from.clone()), move |rows, _| async move {
                ingest(state, src, &rows).await
            })
            .await?;
        tracing::info!(
            source = self.name(),
            from,
            read,
            why,
            "re-read the object's recent changes"
        );
        self.progress.resyncs += 1;
        self.progress.refetched += read as u64;
        self.progress.counts += counts;
        Ok(())
    }

    /// Counts and reports an event that does not decode; returns the commit time to
    /// re-read the object's records from so its changes are not lost: the newest commit
    /// time decoded before it, or the beginning (a full re-read) when none is known yet.
    fn undecodable(&mut self, replay_id: &[u8], reason: &str) -> i64 {
        self.progress.undecodable += 1;
        let from = self.newest_commit_ms.unwrap_or(0);
        tracing::error!(
            source = self.name(),
            replay_id = %event::replay_hex(replay_id),
            reason,
            reread_from_ms = from,
            "a Pub/Sub event could not be decoded; the records it may have changed are re-read"
        );
        metrics::counter!("dialsync_pubsub_undecodable_total", "source" => self.name().to_owned())
            .increment(1);
        from
    }
}

/// A REST datetime (`2026-10-09T12:01:57.000+0000`) in epoch ms.
fn stamp_ms(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z")
        .ok()
        .map(|d| d.timestamp_millis())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Starts one subscriber task per source with `[sources.X.subscribe]`, until `stop`
/// turns true.
pub fn spawn(
    state: &Arc<AppState>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    state
        .sources
        .iter()
        .filter(|(_, s)| s.subscribe.is_some())
        .map(|(name, _)| {
            let (state, name, stop) = (state.clone(), name.clone(), stop.clone());
            tokio::spawn(async move {
                match run(state, &name, stop).await {
                    Ok(p) => {
                        tracing::info!(source = %name, progress = ?p, "Pub/Sub subscriber stopped")
                    }
                    Err(e) => {
                        tracing::error!(source = %name, error = %e, "Pub/Sub subscriber stopped")
                    }
                }
            })
        })
        .collect()
}
