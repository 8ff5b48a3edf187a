-- 0006_inbox_retention: lets `webhooks.prune` (Jobs/Webhooks, docs/webhooks.md "Retention")
-- delete settled inbox rows, and nothing else.
--
-- Until now cityos_app could not DELETE from webhook_inbox at all (0001 granted SELECT, INSERT,
-- UPDATE). Granting DELETE alone would let the permissive `tenant_isolation` policy of 0004 (FOR ALL)
-- decide, and that policy also shows every tenant the tenant-less rows (tenant_id IS NULL): any
-- tenant's transaction could then delete the platform's rows, in any status. The restrictive policy
-- below is ANDed with it for DELETE only, and narrows what a transaction may delete to:
--   * rows of exactly its own scope: a tenant's transaction its own rows (never the tenant-less
--     ones, never another tenant's); a transaction with no tenant set (`Database.withoutTenant`)
--     the tenant-less rows only;
--   * settled rows (`processed`, `ignored`): `received` and `failed` rows are kept for operators.
-- cityos_platform stays read-only: no role can delete across tenants.

GRANT DELETE ON webhook_inbox TO cityos_app;

CREATE POLICY tenant_delete_settled ON webhook_inbox AS RESTRICTIVE FOR DELETE TO cityos_app
    USING (status IN ('processed', 'ignored')
           AND tenant_id IS NOT DISTINCT FROM nullif(current_setting('app.tenant_id', true), '')::uuid);
