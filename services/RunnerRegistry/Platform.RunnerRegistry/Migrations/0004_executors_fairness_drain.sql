-- Executor kinds, fairness among executions, drain.
--
-- A runner runs jobs with one or more executor kinds; a job accepts one or more (an agent with an image runs in a
-- container, docker or kubernetes; one with only a command runs as a process; an agent may name its kind). A runner
-- leases a job only when the two sets overlap.
ALTER TABLE runners.runners
    ADD COLUMN executors          text[] NOT NULL DEFAULT '{process}',
    ADD COLUMN drain_requested_at timestamptz;  -- POST /runners/{id}:drain: no new jobs, the running ones finish

UPDATE runners.runners SET executors = string_to_array(executor, ',');

ALTER TABLE runners.jobs
    ADD COLUMN executors text[] NOT NULL DEFAULT '{process}',
    -- Fair share among executions: the number of jobs of the same execution that were queued or held when this one
    -- was enqueued. The queue is served in (fair_rank, enqueued_at) order, so an execution's 500th parallel job waits
    -- behind the first job of every other execution instead of starving them.
    ADD COLUMN fair_rank integer NOT NULL DEFAULT 0;

UPDATE runners.jobs SET executors = CASE WHEN coalesce(spec->>'image', '') <> '' THEN '{docker,kubernetes}'::text[]
                                         ELSE '{process}'::text[] END
WHERE state = 'queued';

DROP INDEX runners.jobs_queue;
CREATE INDEX jobs_queue ON runners.jobs (fair_rank, enqueued_at, id) WHERE state = 'queued';
-- Counting an execution's queued and held jobs at enqueue (fair_rank).
CREATE INDEX jobs_execution_active ON runners.jobs (execution_id) WHERE state IN ('queued', 'leased', 'running');
