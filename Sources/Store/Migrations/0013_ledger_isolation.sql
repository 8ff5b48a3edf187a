-- 0013_ledger_isolation: the execution ledger is tenant data too, isolated like the rest.
--
-- job_executions had no row-level security, so any tenant's transaction could read every
-- tenant's job history (ids, kinds, times) and, worse, insert a row for another tenant's job id
-- before that job ran: derived ids are predictable (`billing.invoice:first:<subscription>`), and
-- the job would then find its id "already done" and be skipped. Now cityos_app reads and writes
-- exactly its own scope's rows: a tenant's transaction its tenant's, a transaction with no tenant
-- the tenant-less ones. A claim whose id another scope already holds still conflicts on the
-- primary key (constraints see every row), so a job id runs once whoever holds it.
-- cityos_platform (a sweep's ledger row, the tests' checks) keeps every row.

ALTER TABLE job_executions ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_executions FORCE ROW LEVEL SECURITY;

CREATE POLICY own_scope ON job_executions TO cityos_app
    USING (tenant_id IS NOT DISTINCT FROM nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id IS NOT DISTINCT FROM nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_sweep ON job_executions TO cityos_platform USING (true) WITH CHECK (true);
