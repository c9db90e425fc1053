-- Schedules, their fired slots, webhook and event triggers; the context's outbox and inbox.

CREATE TABLE triggers.schedules (
    id            uuid PRIMARY KEY,
    workflow_id   uuid NOT NULL,
    team_id       text NOT NULL,
    cron          text NOT NULL,
    -- A fixed interval as written ("30s"), when there is no cron expression.
    interval      text NOT NULL,
    timezone      text NOT NULL,
    input         jsonb NOT NULL,
    overlap       text NOT NULL,
    catch_up      text NOT NULL,
    start_at      timestamptz,
    end_at        timestamptz,
    paused        boolean NOT NULL,
    -- The first slot not yet handled; null once the schedule has ended.
    next_fire_at  timestamptz,
    -- overlap = buffer_one: a slot waiting for the running execution to finish.
    buffered_slot timestamptz,
    created_at    timestamptz NOT NULL,
    deleted_at    timestamptz
);

-- The firing worker's question: which schedule is due next.
CREATE INDEX schedules_due ON triggers.schedules (next_fire_at) WHERE NOT paused AND deleted_at IS NULL;
CREATE INDEX schedules_by_workflow ON triggers.schedules (workflow_id, created_at DESC);

-- One row per handled slot: the primary key is what keeps replicas from firing a slot twice.
CREATE TABLE triggers.schedule_fires (
    schedule_id  uuid NOT NULL REFERENCES triggers.schedules (id),
    slot_time    timestamptz NOT NULL,
    -- started, skipped, buffered, cancelled_previous (started after cancelling the running one)
    outcome      text NOT NULL,
    execution_id uuid,
    fired_at     timestamptz NOT NULL,
    finished_at  timestamptz,
    PRIMARY KEY (schedule_id, slot_time)
);

CREATE INDEX schedule_fires_by_execution ON triggers.schedule_fires (execution_id) WHERE execution_id IS NOT NULL;

CREATE TABLE triggers.triggers (
    id                         uuid PRIMARY KEY,
    workflow_id                uuid NOT NULL,
    team_id                    text NOT NULL,
    -- webhook or event
    type                       text NOT NULL,
    verification               text NOT NULL,
    source                     text NOT NULL,
    dedupe_header              text NOT NULL,
    input_mapping              jsonb,
    filter                     text NOT NULL,
    source_workflow_id         uuid,
    on_status                  text NOT NULL,
    -- Kept readable (not hashed): HMAC verification needs the secret itself.
    secret                     text,
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    created_at                 timestamptz NOT NULL,
    deleted_at                 timestamptz
);

CREATE INDEX triggers_by_workflow ON triggers.triggers (workflow_id, created_at DESC);
CREATE INDEX triggers_by_source_workflow ON triggers.triggers (source_workflow_id) WHERE type = 'event' AND deleted_at IS NULL;

CREATE TABLE triggers.outbox (
    id           bigserial PRIMARY KEY,
    message_id   uuid NOT NULL UNIQUE,
    message_type text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE triggers.inbox (
    message_id   uuid NOT NULL,
    consumer     text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (message_id, consumer)
);
