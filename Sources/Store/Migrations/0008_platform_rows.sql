-- 0008_platform_rows: a tenant's transaction no longer sees the platform's rows (tenant_id NULL)
-- of the webhook inbox.
--
-- The permissive `tenant_isolation` policy of 0004 let every tenant's transaction read and update
-- the inbox rows whose tenant_id is NULL. Those rows are not harmless: a row is tenant-less
-- whenever its event names no tenant or names it by something other than a UUID (a slug such as
-- "acme"), so its payload may well be one tenant's data, and it is kept for 30 days. 0006 already
-- narrowed DELETE. The restrictive policies below are ANDed with 0004's and narrow what cityos_app
-- reads and updates to rows of exactly its own scope:
--   * a tenant's transaction: its own rows, never the tenant-less ones, never another tenant's;
--   * a transaction with no tenant set (`Database.withoutTenant`, how the webhook job writes an
--     event that names no tenant): the tenant-less rows only.
-- The webhook job writes each row in its event's own scope, so it is not affected.
-- cityos_platform keeps reading every row through its own policy.
--
-- The outbox keeps 0001's rule (a tenant's transaction sees its own jobs and the tenant-less ones):
-- a tenant's job may add a tenant-less job, and PostgreSQL checks the row an INSERT … ON CONFLICT
-- adds against the SELECT policies too. Its rows live until the relay moves them, milliseconds.

CREATE POLICY own_scope_read ON webhook_inbox AS RESTRICTIVE FOR SELECT TO cityos_app
    USING (tenant_id IS NOT DISTINCT FROM nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY own_scope_update ON webhook_inbox AS RESTRICTIVE FOR UPDATE TO cityos_app
    USING (tenant_id IS NOT DISTINCT FROM nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id IS NOT DISTINCT FROM nullif(current_setting('app.tenant_id', true), '')::uuid);
