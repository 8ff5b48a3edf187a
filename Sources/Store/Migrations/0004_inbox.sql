-- 0004_inbox: what became of each webhook event (the inbox's outcome, error and attempts, and
-- its tenant under row-level security); the versions that keep late events from moving a record
-- backwards; the delivery and accounting state of orders placed through webhooks.
--
-- Same rules as 0001_core: tenant_id on tenant rows, ENABLE + FORCE row-level security with the
-- cityos_app tenant policy, SELECT for cityos_platform (operators' reports, lookups by an
-- outside id when an event names no tenant).

-- The inbox -------------------------------------------------------------------------------
-- One row per (source, external_id), written by the webhook job around its dispatch: `received`
-- when a delivery starts, then `processed`, `ignored` (a type no handler takes, or an event older
-- than what we hold) or `failed` (with the error; retried by the job's policy, then dead-lettered).
-- `attempts` counts the job's runs of the event. tenant_id is the envelope's tenant when it is a
-- UUID; NULL when the event names none (such rows are platform rows: visible to every tenant
-- transaction, as tenant-less outbox jobs are).

ALTER TABLE webhook_inbox
    ADD COLUMN tenant_id   uuid,
    ADD COLUMN error       text,
    ADD COLUMN attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN updated_at  timestamptz NOT NULL DEFAULT now();

CREATE INDEX webhook_inbox_recent ON webhook_inbox (status, updated_at);
CREATE INDEX webhook_inbox_tenant ON webhook_inbox (tenant_id, updated_at) WHERE tenant_id IS NOT NULL;

ALTER TABLE webhook_inbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_inbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_inbox TO cityos_app
    USING (tenant_id IS NULL
           OR tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id IS NULL
                OR tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_sweep_read ON webhook_inbox FOR SELECT TO cityos_platform USING (true);

-- Object versions ---------------------------------------------------------------------------
-- The newest version applied per outside object (a Stripe account, a Fleetbase order, an ERPNext
-- invoice, a tenant's settings): an event applies only if its version is greater, so a late event
-- never moves a record backwards. `version` is the object's own clock (a timestamp in ms, times
-- a small rank where a status order breaks ties), never our receive time.

CREATE TABLE object_versions (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    kind        text NOT NULL,
    object_id   text NOT NULL,
    version     bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, object_id)
);

-- Order fulfilment ----------------------------------------------------------------------------
-- An order placed through Medusa, beside its `orders` row: its Fleetbase delivery order and its
-- ERPNext sales invoice (each created once: the row is locked while the outside call runs, and
-- the id is stored in the same transaction), and the statuses their webhooks report.

CREATE TABLE order_fulfilments (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    order_id           uuid NOT NULL,
    external_id        text NOT NULL,
    delivery_id        text,
    delivery_status    text,
    invoice_name       text,
    accounting_status  text NOT NULL DEFAULT 'pending'
                       CHECK (accounting_status IN ('pending', 'invoiced', 'partly_paid', 'paid', 'overdue',
                                                    'cancelled')),
    canceled_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, order_id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id)
);
CREATE UNIQUE INDEX order_fulfilments_external ON order_fulfilments (tenant_id, external_id);
CREATE INDEX order_fulfilments_delivery ON order_fulfilments (delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX order_fulfilments_invoice ON order_fulfilments (invoice_name) WHERE invoice_name IS NOT NULL;

ALTER TABLE object_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE object_versions FORCE ROW LEVEL SECURITY;
ALTER TABLE order_fulfilments ENABLE ROW LEVEL SECURITY;
ALTER TABLE order_fulfilments FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON object_versions TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON order_fulfilments TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_sweep_read ON object_versions FOR SELECT TO cityos_platform USING (true);
CREATE POLICY platform_sweep_read ON order_fulfilments FOR SELECT TO cityos_platform USING (true);

-- Grants ------------------------------------------------------------------------------------

GRANT SELECT, INSERT, UPDATE ON object_versions, order_fulfilments TO cityos_app;
GRANT SELECT ON object_versions, order_fulfilments TO cityos_platform;
