-- Abuse limits (issue 11): sign-in failures are also counted per account *and* address pair, so
-- the lock-out an attacker causes falls on the attacker's address, not on the account's owner;
-- sign-ups and contact-form posts are counted per client address in fixed windows.
ALTER TABLE signin_failures DROP CONSTRAINT signin_failures_scope_check;
ALTER TABLE signin_failures
    ADD CONSTRAINT signin_failures_scope_check CHECK (scope IN ('email', 'address', 'pair'));

CREATE TABLE request_counts (
    action text NOT NULL CHECK (action IN ('signup', 'contact')),
    key text NOT NULL,  -- the client address (an IPv6 client's /64)
    requests integer NOT NULL CHECK (requests > 0),
    window_started_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (action, key)
);

CREATE INDEX request_counts_window_idx ON request_counts (window_started_at);
