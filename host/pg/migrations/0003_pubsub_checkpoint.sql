-- The Salesforce Pub/Sub subscriber's checkpoint on PostgreSQL, shared by every worker
-- (host/dialsync/src/subscribe/replay.rs; the same tables and meanings as in the SQLite
-- file): per (source, topic) the replay id after which the subscription resumes, and per
-- source the keys (`transactionKey/sequenceNumber`) of the events handled, for dedup.
-- Times in milliseconds since the epoch.
CREATE TABLE crm_pubsub_replay (
    source     TEXT   NOT NULL,
    topic      TEXT   NOT NULL,
    replay_id  BYTEA  NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (source, topic)
);

CREATE TABLE crm_pubsub_events (
    source     TEXT   NOT NULL,
    event_key  TEXT   NOT NULL,
    handled_ms BIGINT NOT NULL,
    PRIMARY KEY (source, event_key)
);

CREATE INDEX crm_pubsub_events_handled ON crm_pubsub_events (source, handled_ms);
