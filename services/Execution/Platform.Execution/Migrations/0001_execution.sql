-- Executions: one row per execution (its pinned plan and current status) and its append-only event history.

CREATE TABLE execution.executions (
    id              uuid PRIMARY KEY,
    workflow_id     uuid NOT NULL,
    revision        int NOT NULL,
    workflow_name   text NOT NULL,
    status          text NOT NULL,
    input           jsonb NOT NULL,
    -- The resolved revision (steps, dependencies, agent snapshots) the execution is pinned to.
    plan            jsonb NOT NULL,
    idempotency_key text,
    -- Sequence of the last event: the history's version, for optimistic concurrency and state caching.
    version         bigint NOT NULL,
    error           text,
    created_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    CONSTRAINT executions_idempotency UNIQUE (workflow_id, idempotency_key)
);

CREATE INDEX executions_by_created ON execution.executions (created_at DESC, id DESC);
CREATE INDEX executions_by_workflow ON execution.executions (workflow_id, created_at DESC, id DESC);
CREATE INDEX executions_by_status ON execution.executions (status, created_at DESC, id DESC);

CREATE TABLE execution.events (
    execution_id uuid NOT NULL REFERENCES execution.executions (id),
    sequence     bigint NOT NULL,
    type         text NOT NULL,
    time         timestamptz NOT NULL,
    step         text,
    attempt      int,
    data         jsonb NOT NULL,
    PRIMARY KEY (execution_id, sequence)
);

-- Jobs to hand to Runner-Registry, written in the transaction of the decision that dispatched them.
CREATE TABLE execution.dispatch_outbox (
    id           bigserial PRIMARY KEY,
    job_id       uuid NOT NULL UNIQUE,
    execution_id uuid NOT NULL,
    job          jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE execution.outbox (
    id           bigserial PRIMARY KEY,
    message_id   uuid NOT NULL UNIQUE,
    message_type text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE execution.inbox (
    message_id   uuid NOT NULL,
    consumer     text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (message_id, consumer)
);
