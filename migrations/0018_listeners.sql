-- Every worker's LISTEN connection and when it last proved itself alive (issue 11): a request
-- that revokes a session answers once every listener alive within the trust window has
-- acknowledged it (a listener silent for longer has stopped trusting its caches by itself).
CREATE TABLE listeners (
    id uuid PRIMARY KEY,
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
