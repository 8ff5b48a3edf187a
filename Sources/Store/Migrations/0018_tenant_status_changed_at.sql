-- 0018_tenant_status_changed_at: when a tenant's status last changed.
--
-- Billing does not charge a suspended tenant's customers, and once the tenant is active again it
-- must not charge them for the periods of the suspension either (one charge a day, each for a
-- past period, until the subscription caught up): `billing.invoice` invoices such a subscription
-- from the period in progress when the tenant came back, and needs to know when that was. Other
-- gaps (an invoice paid late, billing stopped for a while) are still invoiced period by period.
--
-- Set by a trigger whenever `status` changes, by any writer (an operator's SQL, a provisioning
-- job), unless the same statement sets it itself (a backfill, a test's clock). NULL: the status
-- never changed since this migration.

ALTER TABLE tenants ADD COLUMN status_changed_at timestamptz;

CREATE FUNCTION tenants_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status
       AND NEW.status_changed_at IS NOT DISTINCT FROM OLD.status_changed_at THEN
        NEW.status_changed_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER tenants_status_changed BEFORE UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenants_status_changed();
