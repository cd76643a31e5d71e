-- Uploaded images live in the database, so that every app host serves every image (issue 13).
-- Rows recorded before this migration keep content NULL until `bin/admin import-uploads` reads
-- their files from the data directory; until then they are served from disk where they are.
-- Images are already compressed: EXTERNAL storage skips PostgreSQL's futile attempt to.

ALTER TABLE uploads ADD COLUMN content bytea CHECK (content IS NULL OR length(content) = size_bytes);
ALTER TABLE uploads ALTER COLUMN content SET STORAGE EXTERNAL;
