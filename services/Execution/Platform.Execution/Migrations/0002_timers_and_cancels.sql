-- Durable timers (retry backoff, attempt and execution timeouts, approval timeouts) and job cancellations.

CREATE TABLE execution.timers (
    execution_id uuid NOT NULL REFERENCES execution.executions (id),
    timer_id     text NOT NULL,
    due_at       timestamptz NOT NULL,
    PRIMARY KEY (execution_id, timer_id)
);

CREATE INDEX timers_due ON execution.timers (due_at);

-- The dispatch outbox carries cancellations too: 'enqueue' (the job column holds the job) or 'cancel' (it holds
-- the reason).
ALTER TABLE execution.dispatch_outbox ADD COLUMN kind text NOT NULL DEFAULT 'enqueue'
    CHECK (kind IN ('enqueue', 'cancel'));
ALTER TABLE execution.dispatch_outbox DROP CONSTRAINT dispatch_outbox_job_id_key;
ALTER TABLE execution.dispatch_outbox ADD CONSTRAINT dispatch_outbox_job_kind UNIQUE (job_id, kind);
