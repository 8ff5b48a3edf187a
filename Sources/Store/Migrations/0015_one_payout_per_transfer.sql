-- 0015_one_payout_per_transfer: a Stripe transfer pays one payout, in every tenant.
--
-- Each payout's transfer is made under its own idempotency key, so the jobs never book one
-- transfer twice. An operator settling a payout by hand (`cityos payouts settle --transfer`) names
-- the transfer, and the check that no other payout holds it runs as the tenant, seeing that
-- tenant's payouts only, and outside the transaction that books it. The index holds across
-- tenants and at the commit.
--
-- A database where two payouts already hold one transfer (a fix by hand in SQL, say) stops here,
-- naming them, rather than failing on the index with less to go on: those payouts are settled by
-- an operator first. Row-level security binds the owner too (and has no policy for it): it is
-- lifted for the check, inside this migration's transaction.
ALTER TABLE payouts NO FORCE ROW LEVEL SECURITY;
DO $$
DECLARE
    doubled text;
BEGIN
    SELECT string_agg(stripe_transfer_id || ' (' || held || ' payouts)', ', ') INTO doubled
    FROM (SELECT stripe_transfer_id, count(*) AS held FROM payouts WHERE stripe_transfer_id IS NOT NULL
          GROUP BY stripe_transfer_id HAVING count(*) > 1) AS d;
    IF doubled IS NOT NULL THEN
        RAISE EXCEPTION 'payouts share a Stripe transfer: %; each transfer must pay one payout: settle them first', doubled;
    END IF;
END
$$;
ALTER TABLE payouts FORCE ROW LEVEL SECURITY;

CREATE UNIQUE INDEX payouts_one_per_transfer ON payouts (stripe_transfer_id) WHERE stripe_transfer_id IS NOT NULL;
