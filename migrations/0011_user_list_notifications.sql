-- The admin's whole user list is cached in every worker (issue 10); it shows each user's email,
-- name, role and phone, so a change to any of them drops it (0009 announced only added and
-- removed users). Same channel and payload as 0009: jaan_changed '<table name>'.
CREATE TRIGGER users_notify_table_updated
    AFTER UPDATE OF email, full_name, role ON users
    FOR EACH STATEMENT EXECUTE FUNCTION notify_table_changed();
CREATE TRIGGER profiles_notify_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON profiles
    FOR EACH STATEMENT EXECUTE FUNCTION notify_table_changed();
