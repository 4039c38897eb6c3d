-- The journal on PostgreSQL: the same tables and meanings as the SQLite journal
-- (host/dialsync/src/sync/journal.rs), plus `work_keys`, the one row per key (contact list,
-- externalId) with unfinished work that workers lock with FOR UPDATE SKIP LOCKED and lease.
-- Times: source times in microseconds, everything else in milliseconds since the epoch.
CREATE TABLE changes (
    seq               BIGSERIAL PRIMARY KEY,
    source            TEXT     NOT NULL,
    list_id           TEXT     NOT NULL,
    external_id       TEXT     NOT NULL,
    op                TEXT     NOT NULL,
    priority          SMALLINT NOT NULL,            -- 0 = do-not-call first, 1 = ordinary
    source_updated_at BIGINT   NOT NULL,
    payload           TEXT     NOT NULL,            -- the Change as JSON
    state             TEXT     NOT NULL,            -- pending | done (claims are on work_keys)
    outcome           TEXT,
    error             TEXT,
    attempts          INTEGER  NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT   NOT NULL DEFAULT 0,
    accepted_at       BIGINT   NOT NULL,
    finished_at       BIGINT,
    run_id            BIGINT,
    dead_letter_id    BIGINT
);
CREATE INDEX changes_unfinished ON changes (list_id, external_id, source_updated_at, seq)
    WHERE state = 'pending';
CREATE INDEX changes_by_key ON changes (list_id, external_id, seq);
CREATE INDEX changes_by_external_id ON changes (external_id);
CREATE INDEX changes_by_run ON changes (run_id, outcome);
CREATE INDEX changes_by_dead_letter ON changes (dead_letter_id) WHERE dead_letter_id IS NOT NULL;
CREATE INDEX changes_finished ON changes (finished_at) WHERE state = 'done';

-- One row per key with unfinished changes: the unit of claims. `ready_at` is when the key
-- may be worked next (its parked retry time, or 0 when a do-not-call change is due);
-- `owner` and `lease_expires_at` are the claim; a claim of an expired lease is a takeover.
CREATE TABLE work_keys (
    list_id          TEXT     NOT NULL,
    external_id      TEXT     NOT NULL,
    priority         SMALLINT NOT NULL,
    first_seq        BIGINT   NOT NULL,
    ready_at         BIGINT   NOT NULL DEFAULT 0,
    owner            TEXT,
    lease_expires_at BIGINT,
    PRIMARY KEY (list_id, external_id)
);
CREATE INDEX work_keys_ready ON work_keys (list_id, priority, first_seq);
CREATE INDEX work_keys_by_owner ON work_keys (owner) WHERE owner IS NOT NULL;

CREATE TABLE contacts (
    list_id             TEXT    NOT NULL,
    external_id         TEXT    NOT NULL,
    source              TEXT    NOT NULL,
    contact_id          TEXT    NOT NULL,
    applied_updated_at  BIGINT,
    content_hash        TEXT,
    row                 TEXT,
    removed             BOOLEAN NOT NULL DEFAULT FALSE,
    last_outcome        TEXT,
    last_seq            BIGINT,
    updated_at          BIGINT  NOT NULL,
    seen_updated_at     BIGINT,
    do_not_call         BOOLEAN NOT NULL DEFAULT FALSE,
    do_not_call_at      BIGINT,
    consent_statement   BOOLEAN,
    consent_restored_at BIGINT,
    PRIMARY KEY (list_id, external_id)
);
CREATE INDEX contacts_by_external_id ON contacts (external_id);

CREATE TABLE dead_letters (
    id          BIGSERIAL PRIMARY KEY,
    source      TEXT    NOT NULL,
    list_id     TEXT    NOT NULL,
    external_id TEXT    NOT NULL,
    error       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    created_at  BIGINT  NOT NULL,
    replayed_at BIGINT
);

CREATE TABLE import_runs (
    id          BIGSERIAL PRIMARY KEY,
    source      TEXT   NOT NULL,
    input       TEXT   NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    report      TEXT
);

-- Lease takeovers, per worker that took over (for /metrics).
CREATE TABLE lease_takeovers (
    worker TEXT   PRIMARY KEY,
    count  BIGINT NOT NULL DEFAULT 0
);

-- Webhook delivery ids already made durable (host/dialsync/src/server/dedup.rs).
CREATE TABLE server_webhook_deliveries (
    source      TEXT   NOT NULL,
    delivery_id TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    summary     TEXT   NOT NULL,
    PRIMARY KEY (source, delivery_id)
);

-- CRM pull positions (host/dialsync/src/pull/cursors.rs).
CREATE TABLE crm_source_cursors (
    source     TEXT   NOT NULL,
    stream     TEXT   NOT NULL,
    position   TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (source, stream)
);
