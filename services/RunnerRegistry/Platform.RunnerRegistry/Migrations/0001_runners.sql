-- Runner-Registry: registration tokens, runners and the job queue (with leases), plus the outbox and inbox.

CREATE TABLE runners.registration_tokens (
    id          uuid PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,          -- SHA-256 of the token; the token itself is never stored
    labels      text[] NOT NULL DEFAULT '{}',   -- added to every runner registered with the token
    single_use  boolean NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz                     -- first registration with the token
);

CREATE TABLE runners.runners (
    id                    uuid PRIMARY KEY,
    name                  text NOT NULL,
    labels                text[] NOT NULL DEFAULT '{}',
    capacity              integer NOT NULL CHECK (capacity >= 1),
    executor              text NOT NULL,
    version               text NOT NULL DEFAULT '',
    credential_hash       bytea NOT NULL UNIQUE, -- SHA-256 of the credential handed out at registration
    registration_token_id uuid REFERENCES runners.registration_tokens (id),
    registered_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_heartbeat_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    replaced_at           timestamptz,           -- a later registration with the same name took over
    revoked_at            timestamptz
);

-- One live registration per name: registering the name again replaces it.
CREATE UNIQUE INDEX runners_live_name ON runners.runners (name) WHERE replaced_at IS NULL AND revoked_at IS NULL;
-- ListRunners pages over live runners in registration order.
CREATE INDEX runners_live_order ON runners.runners (registered_at, id) WHERE replaced_at IS NULL AND revoked_at IS NULL;

CREATE TABLE runners.jobs (
    id               uuid PRIMARY KEY,           -- chosen by Execution; enqueueing is idempotent by it
    execution_id     uuid NOT NULL,
    step_name        text NOT NULL,
    step_attempt     integer NOT NULL,
    spec             jsonb NOT NULL,
    labels           text[] NOT NULL DEFAULT '{}', -- a runner takes the job when these are a subset of its labels
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'leased', 'running', 'succeeded', 'failed', 'cancelled')),
    attempt          integer NOT NULL DEFAULT 0, -- lease number: every lease increments it (fencing token)
    runner_id        uuid REFERENCES runners.runners (id),
    lease_expires_at timestamptz,
    enqueued_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    leased_at        timestamptz,
    started_at       timestamptz,
    finished_at      timestamptz,
    exit_code        integer,
    outputs          jsonb,
    error            text,
    output_tail      text
);

-- The queue head: AcquireJob scans queued jobs in order (FOR UPDATE SKIP LOCKED).
CREATE INDEX jobs_queue ON runners.jobs (enqueued_at, id) WHERE state = 'queued';
-- Jobs a runner holds: capacity checks, heartbeats, requeue on replacement, running_jobs of ListRunners.
CREATE INDEX jobs_held_by_runner ON runners.jobs (runner_id) WHERE state IN ('leased', 'running');
-- Lease expiry: the reaper looks at the earliest lapsing lease.
CREATE INDEX jobs_lease_expiry ON runners.jobs (lease_expires_at) WHERE state IN ('leased', 'running');
CREATE INDEX jobs_execution ON runners.jobs (execution_id);

CREATE TABLE runners.outbox (
    id           bigserial PRIMARY KEY,
    message_id   uuid NOT NULL UNIQUE,
    message_type text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE runners.inbox (
    message_id   uuid NOT NULL,
    consumer     text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (message_id, consumer)
);
