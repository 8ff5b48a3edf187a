-- 0009_early_reversals: a refund or cancellation that arrives before its order is booked.
--
-- commission.reverse used to retry until the order existed, then died a dead letter (about 8.5
-- minutes of attempts). An order.placed delayed longer (a Medusa outage, vendors missing until an
-- operator replays it) then booked the vendor's earning with nothing left to reverse it: the vendor
-- was paid for a canceled or refunded order. Now the reversal is kept here, and commission.calculate
-- applies it in the transaction that books the order.

CREATE TABLE early_reversals (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    -- The job that asked for it: its execution ledger key, and the reversal entries' job_id.
    job_id     text NOT NULL,
    order_id   uuid NOT NULL,
    reason     text NOT NULL CHECK (reason IN ('refund', 'cancellation')),
    -- The order lines to reverse; NULL = the whole order.
    line_ids   uuid[],
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, job_id)
);
CREATE INDEX early_reversals_order ON early_reversals (tenant_id, order_id);

ALTER TABLE early_reversals ENABLE ROW LEVEL SECURITY;
ALTER TABLE early_reversals FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON early_reversals TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_sweep_read ON early_reversals FOR SELECT TO cityos_platform USING (true);

GRANT SELECT, INSERT, DELETE ON early_reversals TO cityos_app;
GRANT SELECT ON early_reversals TO cityos_platform;
