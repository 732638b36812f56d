-- Schema version 2: generated images in the database, so that every
-- replica serves /ads/... (SPEC 7). The key is the path under /ads/.
CREATE TABLE IF NOT EXISTS adsched_images (
    path       text PRIMARY KEY,
    bytes      bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
