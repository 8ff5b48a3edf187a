-- 0001_core: tenants, stores, vendors; the platform tables (webhook inbox, execution
-- ledger, outbox, audit log, diagnostics); row-level security and grants.
--
-- Applied by the Migrator as the schema owner (`cityos`), in one transaction.
-- Roles (created by the bootstrap, not here):
--   cityos           owns every object; runs migrations.
--   cityos_app       the application; NOINHERIT, NOBYPASSRLS: row-level security applies.
--   cityos_platform  NOLOGIN; reached only by `SET LOCAL ROLE cityos_platform` from
--                    cityos_app, for platform sweeps over all tenants.
--
-- Tenant tables carry `tenant_id uuid NOT NULL` and are keyed (tenant_id, id), so they
-- could be distributed by tenant_id (e.g. Citus). Money is bigint minor units plus an
-- ISO 4217 code in char(3). Never floating point.
--
-- Isolation: ENABLE + FORCE row-level security on every tenant table; cityos_app sees
-- and writes only rows whose tenant_id is the transaction's `app.tenant_id` (set with
-- set_config(..., true)); with no tenant set nothing is visible. cityos_platform may
-- READ every tenant row and write none: a sweep finds work across tenants and fans it
-- out as per-tenant jobs (through the outbox), and each of those writes under its own
-- tenant. Platform tables have no RLS: the execution ledger (ids only), the webhook inbox
-- (an event's tenant is not known until its handler resolves it), the audit log and the
-- diagnostics. The outbox carries tenant data in its args, so cityos_app sees only its
-- own tenant's rows there, and the relay drains it as cityos_platform (see below).

-- Tenants -------------------------------------------------------------------------------

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]*$'),
    name        text NOT NULL,
    domains     text[] NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'suspended', 'deleted')),
    settings    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE stores (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    id               uuid NOT NULL,
    slug             text NOT NULL,
    name             text NOT NULL,
    domains          text[] NOT NULL DEFAULT '{}',
    default_currency char(3) NOT NULL CHECK (default_currency ~ '^[A-Z]{3}$'),
    status           text NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'suspended', 'deleted')),
    settings         jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, slug)
);

CREATE TABLE vendors (
    tenant_id                uuid NOT NULL REFERENCES tenants (id),
    id                       uuid NOT NULL,
    store_id                 uuid,
    slug                     text NOT NULL,
    name                     text NOT NULL,
    status                   text NOT NULL DEFAULT 'active'
                             CHECK (status IN ('pending', 'active', 'suspended', 'deleted')),
    stripe_account_id        text,
    payouts_enabled          boolean NOT NULL DEFAULT false,
    minimum_payout_amount    bigint NOT NULL DEFAULT 0 CHECK (minimum_payout_amount >= 0),
    minimum_payout_currency  char(3) NOT NULL CHECK (minimum_payout_currency ~ '^[A-Z]{3}$'),
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, slug),
    FOREIGN KEY (tenant_id, store_id) REFERENCES stores (tenant_id, id)
);

-- Stripe's account.updated webhooks name the connected account: find its vendor.
CREATE UNIQUE INDEX vendors_stripe_account_id_key
    ON vendors (tenant_id, stripe_account_id) WHERE stripe_account_id IS NOT NULL;

-- Platform tables ---------------------------------------------------------------------

-- Every inbound event, once per (source, external_id). The tenant is not known when an
-- event arrives (it is resolved by its handler), so this is a platform table.
CREATE TABLE webhook_inbox (
    id            bigserial PRIMARY KEY,
    source        text NOT NULL,
    external_id   text NOT NULL,
    type          text NOT NULL,
    payload       jsonb NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz,
    status        text NOT NULL DEFAULT 'received'
                  CHECK (status IN ('received', 'processed', 'failed', 'ignored')),
    UNIQUE (source, external_id)
);

-- The execution ledger: a row per job whose transaction committed. Written first in the
-- job's own transaction, so a redelivered job that already committed is skipped.
CREATE TABLE job_executions (
    job_id        text PRIMARY KEY,
    kind          text NOT NULL,
    tenant_id     uuid,
    completed_at  timestamptz NOT NULL DEFAULT now()
);

-- Jobs to enqueue into Redis if, and only if, the transaction that wrote them commits.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    job_id      text NOT NULL UNIQUE,
    kind        text NOT NULL,
    queue       text NOT NULL,
    tenant_id   uuid,
    args        jsonb NOT NULL,
    run_at      timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- What operators did (replays, deletes, manual enqueues). Append-only for the app.
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    actor      text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    tenant_id  uuid,
    details    jsonb NOT NULL DEFAULT '{}',
    at         timestamptz NOT NULL DEFAULT now()
);

-- Written by the diagnostic jobs. job_id is deliberately NOT unique: a test proves that
-- the execution ledger, not a constraint, prevents a redelivered job from writing twice.
CREATE TABLE diag_records (
    id          bigserial PRIMARY KEY,
    key         text NOT NULL,
    job_id      text NOT NULL,
    created_at  timestamptz DEFAULT now()
);

-- Row-level security: tenant tables --------------------------------------------------

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE stores ENABLE ROW LEVEL SECURITY;
ALTER TABLE stores FORCE ROW LEVEL SECURITY;
ALTER TABLE vendors ENABLE ROW LEVEL SECURITY;
ALTER TABLE vendors FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON tenants TO cityos_app
    USING (id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON stores TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON vendors TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

CREATE POLICY platform_sweep_read ON tenants FOR SELECT TO cityos_platform USING (true);
CREATE POLICY platform_sweep_read ON stores FOR SELECT TO cityos_platform USING (true);
CREATE POLICY platform_sweep_read ON vendors FOR SELECT TO cityos_platform USING (true);

-- Row-level security: the outbox -------------------------------------------------------
-- Its args are tenant data. cityos_app may add and see only its own tenant's jobs (or
-- tenant-less ones); the relay drains every row as cityos_platform; a sweep may enqueue
-- a job for any tenant.

ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON outbox TO cityos_app
    USING (tenant_id IS NULL
           OR tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id IS NULL
                OR tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_relay ON outbox TO cityos_platform USING (true) WITH CHECK (true);

-- Grants ------------------------------------------------------------------------------
-- Nothing is owned by cityos_app. cityos_app is NOINHERIT, so it never holds
-- cityos_platform's privileges unless it says SET ROLE.

GRANT SELECT, INSERT, UPDATE ON tenants TO cityos_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON stores, vendors TO cityos_app;
GRANT SELECT, INSERT, UPDATE ON webhook_inbox TO cityos_app;
GRANT SELECT, INSERT ON job_executions TO cityos_app;
GRANT SELECT, INSERT ON outbox TO cityos_app;
GRANT SELECT, INSERT ON audit_log TO cityos_app;
GRANT SELECT, INSERT ON diag_records TO cityos_app;
GRANT USAGE ON SEQUENCE webhook_inbox_id_seq, outbox_id_seq, audit_log_id_seq,
    diag_records_id_seq TO cityos_app;

GRANT SELECT ON tenants, stores, vendors TO cityos_platform;
GRANT SELECT ON webhook_inbox TO cityos_platform;
GRANT SELECT, INSERT ON job_executions TO cityos_platform;
GRANT SELECT, INSERT, DELETE ON outbox TO cityos_platform;
-- The relay locks its batch with SELECT … FOR UPDATE, which needs UPDATE on some column.
GRANT UPDATE (run_at) ON outbox TO cityos_platform;
GRANT SELECT, INSERT ON audit_log TO cityos_platform;
GRANT SELECT, INSERT ON diag_records TO cityos_platform;
GRANT USAGE ON SEQUENCE outbox_id_seq, audit_log_id_seq, diag_records_id_seq
    TO cityos_platform;
