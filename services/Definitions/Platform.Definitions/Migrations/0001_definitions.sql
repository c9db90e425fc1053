-- The Definitions context: agents, workflows and their immutable revisions; the outbox and inbox.

CREATE TABLE definitions.agents (
    id            uuid PRIMARY KEY,
    team_id       text NOT NULL,
    name          text NOT NULL,
    description   text NOT NULL,
    -- argv, a JSON array of strings ([] when the agent is an image run with its own entrypoint).
    command       jsonb NOT NULL,
    image         text NOT NULL,
    env           jsonb NOT NULL,
    runner_labels jsonb NOT NULL,
    created_at    timestamptz NOT NULL,
    CONSTRAINT agents_team_name UNIQUE (team_id, name)
);

CREATE INDEX agents_by_team ON definitions.agents (team_id, created_at, id);

CREATE TABLE definitions.workflows (
    id              uuid PRIMARY KEY,
    team_id         text NOT NULL,
    -- The name of the latest revision.
    name            text NOT NULL,
    latest_revision int NOT NULL,
    archived        boolean NOT NULL DEFAULT false,
    archived_at     timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- Names are unique per team among workflows that are not archived.
CREATE UNIQUE INDEX workflows_team_name ON definitions.workflows (team_id, name) WHERE NOT archived;
CREATE INDEX workflows_by_team ON definitions.workflows (team_id, created_at, id);

CREATE TABLE definitions.workflow_revisions (
    workflow_id uuid NOT NULL REFERENCES definitions.workflows (id),
    revision    int NOT NULL CHECK (revision >= 1),
    name        text NOT NULL,
    -- The normalised workflow document (agents resolved, step types filled in, everything else as written).
    document    jsonb NOT NULL,
    -- The document compiled to a DAG: steps in declaration order with their normalised dependencies.
    dag         jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (workflow_id, revision)
);

-- Revisions are immutable: executions are pinned to them.
CREATE FUNCTION definitions.refuse_revision_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'workflow revisions are immutable';
END;
$$;

CREATE TRIGGER workflow_revisions_immutable
    BEFORE UPDATE OR DELETE ON definitions.workflow_revisions
    FOR EACH ROW EXECUTE FUNCTION definitions.refuse_revision_change();

CREATE TABLE definitions.outbox (
    id           bigserial PRIMARY KEY,
    message_id   uuid NOT NULL UNIQUE,
    message_type text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE definitions.inbox (
    message_id   uuid NOT NULL,
    consumer     text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (message_id, consumer)
);
