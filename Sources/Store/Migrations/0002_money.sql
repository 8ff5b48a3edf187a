-- 0002_money: orders and their lines, commission rules, the vendor ledger, payouts.
--
-- Same rules as 0001_core: tenant_id NOT NULL, keys (tenant_id, id), money as bigint minor
-- units plus an ISO 4217 code in char(3), ENABLE + FORCE row-level security with the
-- cityos_app tenant policy, SELECT for cityos_platform sweeps.
--
-- The vendor ledger is append-only: cityos_app may SELECT and INSERT it, never UPDATE or
-- DELETE. An amount is signed from the vendor's side: an `earning` is +line total, a
-- `commission` is −commission, a `reversal` is the negation of the entry it `reverses`, a
-- `payout` is −the amount transferred. So the sum of a vendor's entries in a currency is what
-- the platform owes the vendor, and earning + commission of a line = its vendor earnings.
--
-- Payouts claim entries through payout_items (rows, not edits of the ledger). Entries claimed
-- by a `pending` or `paid` payout are not payable; a `failed` payout's claims no longer count,
-- so its entries are payable again while the failed payout row keeps its failure_reason.

CREATE TABLE orders (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    external_id  text,
    currency     char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    placed_at    timestamptz NOT NULL,
    status       text NOT NULL DEFAULT 'placed'
                 CHECK (status IN ('placed', 'canceled', 'refunded', 'partially_refunded')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX orders_external_id_key ON orders (tenant_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE order_lines (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    order_id      uuid NOT NULL,
    vendor_id     uuid NOT NULL,
    quantity      integer NOT NULL CHECK (quantity > 0),
    unit_amount   bigint NOT NULL CHECK (unit_amount >= 0),
    total_amount  bigint NOT NULL CHECK (total_amount = quantity * unit_amount),
    currency      char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id),
    FOREIGN KEY (tenant_id, vendor_id) REFERENCES vendors (tenant_id, id)
);
CREATE INDEX order_lines_order ON order_lines (tenant_id, order_id);

-- A tenant's default rule has vendor_id NULL; a vendor's override names it. One of each.
CREATE TABLE commission_rules (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    vendor_id      uuid,
    basis_points   integer NOT NULL CHECK (basis_points BETWEEN 0 AND 10000),
    flat_amount    bigint NOT NULL DEFAULT 0 CHECK (flat_amount >= 0),
    flat_currency  char(3) CHECK (flat_currency ~ '^[A-Z]{3}$'),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vendor_id) REFERENCES vendors (tenant_id, id),
    CHECK (flat_amount = 0 OR flat_currency IS NOT NULL)
);
CREATE UNIQUE INDEX commission_rules_scope_key ON commission_rules (tenant_id, vendor_id) NULLS NOT DISTINCT;

-- Tiers of a rule by the vendor's sales this calendar month (UTC) before the order: the tier
-- with the highest threshold reached replaces the rule's basis points.
CREATE TABLE commission_tiers (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    rule_id            uuid NOT NULL,
    min_monthly_sales  bigint NOT NULL CHECK (min_monthly_sales >= 0),
    basis_points       integer NOT NULL CHECK (basis_points BETWEEN 0 AND 10000),
    PRIMARY KEY (tenant_id, rule_id, min_monthly_sales),
    FOREIGN KEY (tenant_id, rule_id) REFERENCES commission_rules (tenant_id, id)
);

CREATE TABLE payouts (
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    id                  uuid NOT NULL,
    vendor_id           uuid NOT NULL,
    amount              bigint NOT NULL CHECK (amount > 0),
    currency            char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    destination         text NOT NULL,
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'failed')),
    stripe_transfer_id  text,
    failure_reason      text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    settled_at          timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vendor_id) REFERENCES vendors (tenant_id, id),
    CHECK ((status = 'paid') = (stripe_transfer_id IS NOT NULL)),
    CHECK (status <> 'failed' OR failure_reason IS NOT NULL)
);
-- At most one payout in flight per vendor and currency: a redelivery resumes it.
CREATE UNIQUE INDEX payouts_one_pending ON payouts (tenant_id, vendor_id, currency) WHERE status = 'pending';

CREATE TABLE vendor_ledger_entries (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    vendor_id      uuid NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('earning', 'commission', 'reversal', 'payout')),
    amount         bigint NOT NULL,
    currency       char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    order_id       uuid,
    order_line_id  uuid,
    reverses       uuid,
    payout_id      uuid,
    -- When the money was earned (the order's placed_at); the hold period counts from here.
    occurred_at    timestamptz NOT NULL,
    job_id         text NOT NULL,
    memo           text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vendor_id) REFERENCES vendors (tenant_id, id),
    FOREIGN KEY (tenant_id, order_line_id) REFERENCES order_lines (tenant_id, id),
    FOREIGN KEY (tenant_id, reverses) REFERENCES vendor_ledger_entries (tenant_id, id),
    FOREIGN KEY (tenant_id, payout_id) REFERENCES payouts (tenant_id, id),
    CHECK ((kind IN ('earning', 'commission')) = (order_line_id IS NOT NULL AND reverses IS NULL)),
    CHECK ((kind = 'reversal') = (reverses IS NOT NULL)),
    CHECK ((kind = 'payout') = (payout_id IS NOT NULL))
);
-- A line earns and is charged commission once; an entry is reversed once; a payout is booked once.
CREATE UNIQUE INDEX vendor_ledger_line_kind ON vendor_ledger_entries (tenant_id, order_line_id, kind)
    WHERE kind IN ('earning', 'commission');
CREATE UNIQUE INDEX vendor_ledger_reverses ON vendor_ledger_entries (tenant_id, reverses) WHERE reverses IS NOT NULL;
CREATE UNIQUE INDEX vendor_ledger_payout ON vendor_ledger_entries (tenant_id, payout_id) WHERE payout_id IS NOT NULL;
CREATE INDEX vendor_ledger_vendor ON vendor_ledger_entries (tenant_id, vendor_id, currency, occurred_at);

CREATE TABLE payout_items (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    payout_id  uuid NOT NULL,
    entry_id   uuid NOT NULL,
    PRIMARY KEY (tenant_id, payout_id, entry_id),
    FOREIGN KEY (tenant_id, payout_id) REFERENCES payouts (tenant_id, id),
    FOREIGN KEY (tenant_id, entry_id) REFERENCES vendor_ledger_entries (tenant_id, id)
);
CREATE INDEX payout_items_entry ON payout_items (tenant_id, entry_id);

-- Row-level security --------------------------------------------------------------------

ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders FORCE ROW LEVEL SECURITY;
ALTER TABLE order_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE order_lines FORCE ROW LEVEL SECURITY;
ALTER TABLE commission_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE commission_rules FORCE ROW LEVEL SECURITY;
ALTER TABLE commission_tiers ENABLE ROW LEVEL SECURITY;
ALTER TABLE commission_tiers FORCE ROW LEVEL SECURITY;
ALTER TABLE payouts ENABLE ROW LEVEL SECURITY;
ALTER TABLE payouts FORCE ROW LEVEL SECURITY;
ALTER TABLE vendor_ledger_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE vendor_ledger_entries FORCE ROW LEVEL SECURITY;
ALTER TABLE payout_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE payout_items FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON orders TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON order_lines TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON commission_rules TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON commission_tiers TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON payouts TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON vendor_ledger_entries TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON payout_items TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

CREATE POLICY platform_sweep_read ON orders FOR SELECT TO cityos_platform USING (true);
CREATE POLICY platform_sweep_read ON order_lines FOR SELECT TO cityos_platform USING (true);
CREATE POLICY platform_sweep_read ON commission_rules FOR SELECT TO cityos_platform USING (true);
CREATE POLICY platform_sweep_read ON commission_tiers FOR SELECT TO cityos_platform USING (true);
CREATE POLICY platform_sweep_read ON payouts FOR SELECT TO cityos_platform USING (true);
CREATE POLICY platform_sweep_read ON vendor_ledger_entries FOR SELECT TO cityos_platform USING (true);
CREATE POLICY platform_sweep_read ON payout_items FOR SELECT TO cityos_platform USING (true);

-- Grants ------------------------------------------------------------------------------
-- The ledger and the claims are append-only for the application.

GRANT SELECT, INSERT, UPDATE ON orders TO cityos_app;
GRANT SELECT, INSERT ON order_lines TO cityos_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON commission_rules, commission_tiers TO cityos_app;
GRANT SELECT, INSERT ON vendor_ledger_entries, payout_items TO cityos_app;
GRANT SELECT, INSERT ON payouts TO cityos_app;
GRANT UPDATE (status, stripe_transfer_id, failure_reason, settled_at) ON payouts TO cityos_app;

GRANT SELECT ON orders, order_lines, commission_rules, commission_tiers, payouts,
    vendor_ledger_entries, payout_items TO cityos_platform;
