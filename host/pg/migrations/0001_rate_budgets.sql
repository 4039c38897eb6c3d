-- One token bucket per Genesys org (API base + OAuth client id), shared by every worker
-- (GCRA form, as host/genesys/src/bucket.rs). Times are microseconds on the *server's*
-- clock, so workers on machines whose clocks disagree still share one pace.
CREATE TABLE rate_budgets (
    budget_key   TEXT   PRIMARY KEY,
    org          TEXT   NOT NULL,
    interval_us  BIGINT NOT NULL,      -- what one request costs: 60 s / steady rate
    tolerance_us BIGINT NOT NULL,      -- interval × (burst − 1)
    tat_us       BIGINT NOT NULL DEFAULT 0,  -- theoretical arrival time of the next request
    paused_until_us BIGINT NOT NULL DEFAULT 0,
    taken        BIGINT NOT NULL DEFAULT 0,  -- slots granted, ever (for budget-use metrics)
    pauses       BIGINT NOT NULL DEFAULT 0   -- 429 pauses, ever
);

-- Takes one slot: returns 0 when granted, else the microseconds to wait. One statement,
-- one row lock: workers queue on the row, never grant the same slot twice.
CREATE FUNCTION dialsync_take_slot(key TEXT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    now_us BIGINT := (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT;
    b rate_budgets%ROWTYPE;
    tat BIGINT;
BEGIN
    SELECT * INTO b FROM rate_budgets WHERE budget_key = key FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no rate budget %', key;
    END IF;
    tat := GREATEST(b.tat_us, now_us);
    IF tat - b.tolerance_us > now_us THEN
        RETURN tat - b.tolerance_us - now_us;
    END IF;
    UPDATE rate_budgets SET tat_us = tat + b.interval_us, taken = taken + 1
        WHERE budget_key = key;
    RETURN 0;
END $$;

-- Holds the org shut for `wait_us` (a 429's Retry-After), with no burst right after.
CREATE FUNCTION dialsync_pause(key TEXT, wait_us BIGINT) RETURNS VOID
LANGUAGE sql AS $$
    UPDATE rate_budgets SET
        tat_us = GREATEST(tat_us,
            (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT + wait_us + tolerance_us),
        paused_until_us = GREATEST(paused_until_us,
            (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT + wait_us),
        pauses = pauses + 1
    WHERE budget_key = key;
$$;
