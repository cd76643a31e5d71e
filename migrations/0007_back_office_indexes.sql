-- Indexes for the back office's searches (D-40): customers and users are searched by email and name,
-- the activity log by description, actor name and actor email, all with ILIKE '%term%', which only a
-- trigram index serves without reading the whole table.

CREATE INDEX users_email_trgm_idx ON users USING gin (email gin_trgm_ops);
CREATE INDEX users_full_name_trgm_idx ON users USING gin (full_name gin_trgm_ops);
-- Customers are everyone but admins, newest first: the list pages through this before aggregating.
CREATE INDEX users_customers_idx ON users (created_at DESC, id DESC) WHERE role <> 'admin';
-- One trigram index over what the activity search reads (description, user name and email)
-- rather than three: every checkout writes an activity row, and each GIN index costs it.
CREATE INDEX activity_logs_search_trgm_idx ON activity_logs
    USING gin ((description || ' ' || coalesce(user_name, '') || ' ' || coalesce(user_email, '')) gin_trgm_ops);
