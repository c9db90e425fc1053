-- Cancelling jobs (CancelJobs): a queued job ends at once; a leased or running one records the request here, its
-- runner is told to stop it, and it ends `cancelled` when the runner reports it (or when its lease lapses).

ALTER TABLE runners.jobs
    ADD COLUMN cancel_requested_at timestamptz,  -- first CancelJobs naming the job while a runner held it
    ADD COLUMN cancel_reason       text;         -- becomes the job's error when it ends
