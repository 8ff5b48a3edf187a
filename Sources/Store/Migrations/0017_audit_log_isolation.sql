-- 0017_audit_log_isolation: the audit log is tenant data too, isolated like the rest.
--
-- audit_log (who did what, to which tenant, with details) was the one table with a tenant_id and
-- no row-level security: once anything wrote it, any tenant's transaction could have read every
-- tenant's entries, or written one in another tenant's name. Now cityos_app reads and writes
-- exactly its own scope's rows, as in job_executions (0013): a tenant's transaction its tenant's,
-- a transaction with no tenant the tenant-less ones. cityos_platform, granted SELECT and INSERT on
-- it in 0001, keeps every row (as in 0013).

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;

CREATE POLICY own_scope ON audit_log TO cityos_app
    USING (tenant_id IS NOT DISTINCT FROM nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id IS NOT DISTINCT FROM nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_sweep ON audit_log TO cityos_platform USING (true) WITH CHECK (true);
