-- 0005_sync: commerce (Medusa) ⇄ content (Payload) product sync — the link per product, the
-- conflicts the sync resolved, and the reconciliation's saved cursor (docs/sync.md).
--
-- Same rules as 0001_core: tenant_id NOT NULL and first in every key, ENABLE + FORCE row-level
-- security with the cityos_app tenant policy, SELECT for cityos_platform sweeps.

-- One row per product: which Payload document holds its content, the versions of both sides
-- the sync last saw, and the values both sides last agreed on (`synced`, by field name): what
-- tells an owner's change from a stale copy, and our own echoes from an editor's change.
CREATE TABLE sync_links (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    medusa_product_id  text NOT NULL,
    payload_doc_id     text NOT NULL,
    medusa_version     bigint NOT NULL DEFAULT 0,
    payload_version    bigint NOT NULL DEFAULT 0,
    synced             jsonb NOT NULL DEFAULT '{}',
    archived_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, medusa_product_id)
);
CREATE UNIQUE INDEX sync_links_payload_doc_key ON sync_links (tenant_id, payload_doc_id);

-- Every conflict the sync resolved: a field whose two sides disagreed where the side that does
-- not own it had changed it. Append-only.
CREATE TABLE sync_conflicts (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    id                 uuid NOT NULL,
    entity             text NOT NULL DEFAULT 'product',
    medusa_product_id  text NOT NULL,
    payload_doc_id     text,
    field              text NOT NULL,
    commerce_value     jsonb,
    content_value      jsonb,
    winner             text NOT NULL CHECK (winner IN ('commerce', 'content')),
    reason             text NOT NULL,
    detected_by        text NOT NULL,
    job_id             text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX sync_conflicts_product ON sync_conflicts (tenant_id, medusa_product_id, created_at);

-- The reconciliation's place, per tenant: the phase (`medusa`: products by offset, then
-- `payload`: documents by page), the next position, and the counts so far. A run that dies
-- resumes here; a finished run sets finished_at and the next one starts over. `held_by` is the
-- job working on it: another job leaves a run alone while it is fresh (updated_at) and takes it
-- over once it has been quiet for a while.
CREATE TABLE sync_cursors (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    name         text NOT NULL,
    phase        text NOT NULL CHECK (phase IN ('medusa', 'payload')),
    position     bigint NOT NULL DEFAULT 0,
    run_job_id   text NOT NULL,
    held_by      text NOT NULL,
    checked      bigint NOT NULL DEFAULT 0,
    repaired     bigint NOT NULL DEFAULT 0,
    conflicts    bigint NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    PRIMARY KEY (tenant_id, name)
);

ALTER TABLE sync_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_links FORCE ROW LEVEL SECURITY;
ALTER TABLE sync_conflicts ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_conflicts FORCE ROW LEVEL SECURITY;
ALTER TABLE sync_cursors ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_cursors FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON sync_links TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON sync_conflicts TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON sync_cursors TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

CREATE POLICY platform_sweep_read ON sync_links FOR SELECT TO cityos_platform USING (true);
CREATE POLICY platform_sweep_read ON sync_conflicts FOR SELECT TO cityos_platform USING (true);
CREATE POLICY platform_sweep_read ON sync_cursors FOR SELECT TO cityos_platform USING (true);

GRANT SELECT, INSERT, UPDATE ON sync_links, sync_cursors TO cityos_app;
GRANT SELECT, INSERT ON sync_conflicts TO cityos_app;
GRANT SELECT ON sync_links, sync_conflicts, sync_cursors TO cityos_platform;
