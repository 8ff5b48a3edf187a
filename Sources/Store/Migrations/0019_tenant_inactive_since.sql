-- 0019_tenant_inactive_since: when a tenant last stopped being active.
--
-- 0018's `status_changed_at` alone cannot tell which periods fell in a suspension: it is when the
-- status last changed (for an active tenant, when it came back), not when the suspension began. A
-- subscription whose invoice was paid late, of a tenant suspended for an hour later on, would have
-- skipped periods the tenant was active for. `inactive_since` is set when the status leaves
-- `active` (not when it moves between `suspended` and `deleted`), so `billing.invoice` skips only
-- the periods that began between the two: within the latest suspension.
--
-- As in 0018, a statement that sets the column itself keeps its value (a backfill, a test's
-- clock). NULL: the tenant has not left `active` since this migration (tenants suspended and
-- reactivated before it are billed period by period, as before 0018).

ALTER TABLE tenants ADD COLUMN inactive_since timestamptz;

CREATE OR REPLACE FUNCTION tenants_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NEW.status_changed_at IS NOT DISTINCT FROM OLD.status_changed_at THEN
            NEW.status_changed_at := now();
        END IF;
        IF OLD.status = 'active' AND NEW.status <> 'active'
           AND NEW.inactive_since IS NOT DISTINCT FROM OLD.inactive_since THEN
            NEW.inactive_since := now();
        END IF;
    END IF;
    RETURN NEW;
END
$$;
