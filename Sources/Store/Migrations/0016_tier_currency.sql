-- 0016_tier_currency: a commission tier's threshold is an amount in a currency.
--
-- `min_monthly_sales` is compared with the vendor's sales this month in the order's currency, in
-- minor units; without a currency of its own, a tier of 1,000,000 meant as 10,000.00 USD was
-- reached at ¥1,000,000 or at 1,000.000 KWD, and a vendor selling in several currencies got the
-- wrong rate in all but one. A tier with a currency applies to orders in that currency only; one
-- without (written before this migration) still applies in every currency, as it did: give it its
-- currency (`UPDATE commission_tiers SET currency = 'USD' WHERE …`).
ALTER TABLE commission_tiers ADD COLUMN currency char(3) CHECK (currency ~ '^[A-Z]{3}$');
ALTER TABLE commission_tiers DROP CONSTRAINT commission_tiers_pkey;
CREATE UNIQUE INDEX commission_tiers_threshold
    ON commission_tiers (tenant_id, rule_id, coalesce(currency, ''), min_monthly_sales);
