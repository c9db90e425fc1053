-- Webhook deliveries as received: accepted ones (verified, with their payload) and rejected ones (why); the
-- context's outbox and inbox.

CREATE TABLE ingress.deliveries (
    id                 uuid PRIMARY KEY,
    trigger_id         uuid NOT NULL,
    -- accepted or rejected
    status             text NOT NULL,
    reason             text,
    -- The same for every copy of one delivery (the sender's delivery id, or a key derived from the payload);
    -- null for rejected deliveries, which NULL keeps out of the unique constraint.
    dedupe_key         text,
    duplicates         int NOT NULL DEFAULT 0,
    headers            jsonb NOT NULL,
    -- Kept for accepted deliveries only (replays); a rejected body is unauthenticated input.
    body               bytea,
    body_bytes         int NOT NULL,
    replay_of          uuid,
    received_at        timestamptz NOT NULL,
    -- What Triggers did with it: started, filtered, failed; null while pending.
    outcome            text,
    execution_id       uuid,
    detail             text,
    processed_at       timestamptz,
    -- The WebhookReceived message last put into the outbox for it, and when (redelivery of unanswered ones).
    message_id         uuid,
    sent_at            timestamptz,
    CONSTRAINT deliveries_dedupe UNIQUE (trigger_id, dedupe_key)
);

CREATE INDEX deliveries_by_trigger ON ingress.deliveries (trigger_id, received_at DESC, id DESC);
CREATE INDEX deliveries_pending ON ingress.deliveries (sent_at) WHERE status = 'accepted' AND processed_at IS NULL;

CREATE TABLE ingress.outbox (
    id           bigserial PRIMARY KEY,
    message_id   uuid NOT NULL UNIQUE,
    message_type text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE ingress.inbox (
    message_id   uuid NOT NULL,
    consumer     text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (message_id, consumer)
);
