-- 0003_billing: plans, subscriptions, invoices, payment attempts; the money reconciliation reports.
--
-- Same rules as 0001_core and 0002_money: tenant_id NOT NULL, keys (tenant_id, id), money as
-- bigint minor units plus an ISO 4217 code in char(3), ENABLE + FORCE row-level security with the
-- cityos_app tenant policy, SELECT for cityos_platform sweeps.
--
-- A subscription has paid for [current_period_start, current_period_end). When
-- current_period_end is reached (by the billing clock) it is due: billing.cycle fans out one
-- billing.invoice, which creates the invoice of the next period — unique per (subscription,
-- period_start), so a second cycle creates none — and charges it in payment attempts (one Stripe
-- PaymentIntent each, idempotency key from invoice and attempt). A paid invoice advances the
-- subscription's period; a failed attempt schedules the next by the tenant's dunning settings.
--
-- States only move forward: an invoice `open` → `paid` | `uncollectible` (a late success may still
-- turn `uncollectible` into `paid`; nothing leaves `paid`); an attempt `pending` → `succeeded` |
-- `failed` (a late success may turn `failed` into `succeeded`; nothing leaves `succeeded`).

CREATE TABLE plans (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    id              uuid NOT NULL,
    code            text NOT NULL,
    name            text NOT NULL,
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    interval_unit   text NOT NULL CHECK (interval_unit IN ('day', 'week', 'month', 'year')),
    interval_count  integer NOT NULL DEFAULT 1 CHECK (interval_count BETWEEN 1 AND 365),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, code)
);

CREATE TABLE subscriptions (
    tenant_id             uuid NOT NULL REFERENCES tenants (id),
    id                    uuid NOT NULL,
    -- Stripe: the customer and the saved payment method charged off-session.
    customer_id           text NOT NULL,
    payment_method        text NOT NULL,
    plan_id               uuid NOT NULL,
    -- A plan change waiting for the next period (subscription.update).
    next_plan_id          uuid,
    status                text NOT NULL DEFAULT 'active'
                          CHECK (status IN ('active', 'past_due', 'unpaid', 'canceled')),
    current_period_start  timestamptz NOT NULL,
    current_period_end    timestamptz NOT NULL,
    canceled_at           timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, plan_id) REFERENCES plans (tenant_id, id),
    FOREIGN KEY (tenant_id, next_plan_id) REFERENCES plans (tenant_id, id),
    CHECK (current_period_end >= current_period_start),
    CHECK ((status = 'canceled') = (canceled_at IS NOT NULL))
);
-- billing.cycle's scan: active subscriptions by the end of their period.
CREATE INDEX subscriptions_due ON subscriptions (current_period_end, tenant_id) WHERE status = 'active';

CREATE TABLE invoices (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    id                 uuid NOT NULL,
    subscription_id    uuid NOT NULL,
    plan_id            uuid NOT NULL,
    period_start       timestamptz NOT NULL,
    period_end         timestamptz NOT NULL,
    amount             bigint NOT NULL CHECK (amount > 0),
    currency           char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status             text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'uncollectible')),
    -- Attempts made so far; the next one is due at next_attempt_at (NULL: one is in flight, or none is left).
    attempt_count      integer NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    next_attempt_at    timestamptz,
    -- When the first attempt failed: the dunning schedule counts from here.
    first_failed_at    timestamptz,
    paid_at            timestamptz,
    payment_intent_id  text,
    last_failure       text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, subscription_id) REFERENCES subscriptions (tenant_id, id),
    FOREIGN KEY (tenant_id, plan_id) REFERENCES plans (tenant_id, id),
    CHECK (period_end > period_start),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL AND payment_intent_id IS NOT NULL))
);
-- One invoice per subscription and period.
CREATE UNIQUE INDEX invoices_one_per_period ON invoices (tenant_id, subscription_id, period_start);
-- payments.retry's scan.
CREATE INDEX invoices_retry_due ON invoices (next_attempt_at, tenant_id) WHERE status = 'open';

CREATE TABLE payment_attempts (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    id                 uuid NOT NULL,
    invoice_id         uuid NOT NULL,
    attempt            integer NOT NULL CHECK (attempt >= 1),
    idempotency_key    text NOT NULL,
    amount             bigint NOT NULL CHECK (amount > 0),
    currency           char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    payment_intent_id  text,
    decline_code       text,
    failure_message    text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    settled_at         timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id),
    UNIQUE (tenant_id, invoice_id, attempt),
    UNIQUE (tenant_id, idempotency_key),
    CHECK (status <> 'succeeded' OR payment_intent_id IS NOT NULL)
);

-- What money.reconcile found, one row per run (a platform table: counts and sample ids, no amounts
-- of one tenant visible to another tenant's role; cityos_app cannot read it).
CREATE TABLE money_reconciliations (
    id           bigserial PRIMARY KEY,
    job_id       text NOT NULL UNIQUE,
    ran_at       timestamptz NOT NULL DEFAULT now(),
    mismatches   integer NOT NULL CHECK (mismatches >= 0),
    report       jsonb NOT NULL
);

-- Row-level security --------------------------------------------------------------------

ALTER TABLE plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE plans FORCE ROW LEVEL SECURITY;
ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscriptions FORCE ROW LEVEL SECURITY;
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
ALTER TABLE payment_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE payment_attempts FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON plans TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON subscriptions TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON invoices TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON payment_attempts TO cityos_app
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

CREATE POLICY platform_sweep_read ON plans FOR SELECT TO cityos_platform USING (true);
CREATE POLICY platform_sweep_read ON subscriptions FOR SELECT TO cityos_platform USING (true);
CREATE POLICY platform_sweep_read ON invoices FOR SELECT TO cityos_platform USING (true);
CREATE POLICY platform_sweep_read ON payment_attempts FOR SELECT TO cityos_platform USING (true);

-- Grants ------------------------------------------------------------------------------
-- Invoices and attempts are never deleted; their amounts never change once written.

GRANT SELECT, INSERT, UPDATE ON plans TO cityos_app;
GRANT SELECT, INSERT, UPDATE ON subscriptions TO cityos_app;
GRANT SELECT, INSERT ON invoices, payment_attempts TO cityos_app;
GRANT UPDATE (status, attempt_count, next_attempt_at, first_failed_at, paid_at, payment_intent_id, last_failure,
              updated_at) ON invoices TO cityos_app;
GRANT UPDATE (status, payment_intent_id, decline_code, failure_message, settled_at) ON payment_attempts TO cityos_app;

GRANT SELECT ON plans, subscriptions, invoices, payment_attempts TO cityos_platform;
GRANT SELECT, INSERT ON money_reconciliations TO cityos_platform;
GRANT USAGE ON SEQUENCE money_reconciliations_id_seq TO cityos_platform;
