-- adsched's tables, version 1 (SPEC 7). Applied by `adsched migrate` and at
-- daemon start, in one transaction under an advisory lock.
--
-- The first three are named and shaped after the team's own plan so that
-- psql, their app or a BI tool can read the history. Each row also keeps
-- the whole record adsched wrote (`state`, `record`), which is what adsched
-- reads back; the other columns are kept equal to it on every write.
-- Ids compare bytewise (COLLATE "C"): run ids are time-ordered ULIDs, and
-- lists page by id whatever the database's locale.

CREATE TABLE scheduled_jobs (
    id              text COLLATE "C" PRIMARY KEY,
    product_id      text NOT NULL,
    brand_id        text NOT NULL,
    name            text NOT NULL,
    schedule_type   text NOT NULL CHECK (schedule_type IN ('one_time', 'recurring')),
    cron_expression text,
    scheduled_at    timestamptz,
    next_run_at     timestamptz,
    max_runs        integer,
    runs_completed  integer NOT NULL,
    status          text NOT NULL,
    template_mode   text,
    template_count  integer,
    template_ids    text[] NOT NULL DEFAULT '{}',
    parameters      jsonb,
    spec            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    tenant_id       text,
    state           jsonb NOT NULL
);

CREATE TABLE scheduled_job_runs (
    id               text COLLATE "C" PRIMARY KEY,
    scheduled_job_id text COLLATE "C" NOT NULL,
    trigger          text NOT NULL,
    attempt          integer NOT NULL,
    scheduled_for    timestamptz,
    queued_at        timestamptz NOT NULL,
    started_at       timestamptz,
    completed_at     timestamptz,
    status           text NOT NULL,
    error_message    text,
    ad_run_ids       text[] NOT NULL DEFAULT '{}',
    templates_used   text[] NOT NULL DEFAULT '{}',
    ads              jsonb NOT NULL DEFAULT '[]',
    exports          jsonb NOT NULL DEFAULT '[]',
    missed_count     integer NOT NULL DEFAULT 0,
    logs             text NOT NULL DEFAULT '',
    tenant_id        text,
    record           jsonb NOT NULL
);

-- One scheduled time is recorded once, whatever the daemons do.
CREATE UNIQUE INDEX scheduled_job_runs_one_per_time
    ON scheduled_job_runs (scheduled_job_id, scheduled_for, attempt)
    WHERE trigger IN ('schedule', 'catchup', 'retry');
CREATE INDEX scheduled_job_runs_by_job ON scheduled_job_runs (scheduled_job_id, id DESC);
CREATE INDEX scheduled_job_runs_queue ON scheduled_job_runs (id) WHERE status = 'pending';
CREATE INDEX scheduled_job_runs_running ON scheduled_job_runs (id) WHERE status = 'running';

CREATE TABLE product_template_usage (
    product_id            text NOT NULL,
    template_storage_name text COLLATE "C" NOT NULL,
    used_at               timestamptz NOT NULL,
    ad_run_id             text NOT NULL,
    run_id                text NOT NULL,
    tenant_id             text,
    UNIQUE (product_id, template_storage_name)
);

-- Log lines one by one (scheduled_job_runs.logs holds them as text too).
CREATE TABLE adsched_run_logs (
    seq     bigserial PRIMARY KEY,
    run_id  text COLLATE "C" NOT NULL,
    time    timestamptz NOT NULL,
    level   text NOT NULL,
    message text NOT NULL
);
CREATE INDEX adsched_run_logs_by_run ON adsched_run_logs (run_id, seq);
