-- Job logs (AppendJobLogs / GetJobLogs): the lines a job wrote, sent by its runner in ordered chunks and kept here so
-- they outlive the runner. `sequence` is the line's place in the job's whole log (appends to one job are serialized
-- by a lock on its jobs row, so a job's sequences commit in order); (job_id, attempt, runner_sequence) makes a retried
-- append store nothing twice. The jobs row counts what was stored, to bound each job's log cheaply.

CREATE TABLE runners.job_logs (
    sequence        bigserial PRIMARY KEY,
    job_id          uuid NOT NULL,
    attempt         integer NOT NULL,
    runner_sequence bigint NOT NULL,   -- 1, 2, 3... per attempt from the runner; 0 for the truncation marker
    stream          text NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
    text            text NOT NULL,
    time            timestamptz NOT NULL,
    UNIQUE (job_id, attempt, runner_sequence)
);

CREATE INDEX job_logs_job ON runners.job_logs (job_id, sequence);

ALTER TABLE runners.jobs
    ADD COLUMN log_lines     integer NOT NULL DEFAULT 0,     -- lines stored in runners.job_logs
    ADD COLUMN log_bytes     bigint NOT NULL DEFAULT 0,      -- their text, in UTF-8 bytes
    ADD COLUMN log_truncated boolean NOT NULL DEFAULT false; -- the bound was reached: the marker is stored, nothing more
