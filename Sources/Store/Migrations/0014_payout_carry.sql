-- 0014_payout_carry: what a payout cannot send is carried to the next one.
--
-- Stripe takes some currencies only in steps coarser than their ISO minor unit: the three-decimal
-- ones (BHD, JOD, KWD, OMR, TND) in multiples of 0.010, MGA in whole units. A vendor's balance
-- is in minor units (commissions round to the fils), so a payout of 11.111 KWD could never be sent:
-- it failed, and the next day's payout failed again, on nine days in ten. Now a payout sends its
-- balance rounded down to Stripe's step, and the remainder is carried: a `carry` entry of minus the
-- remainder is claimed by the payout (so its entries still sum to its amount), and one of plus the
-- remainder stays payable for the next payout. The pair sums to zero: the vendor's balance is
-- unchanged by it.

ALTER TABLE vendor_ledger_entries DROP CONSTRAINT vendor_ledger_entries_kind_check;
ALTER TABLE vendor_ledger_entries ADD CONSTRAINT vendor_ledger_entries_kind_check
    CHECK (kind IN ('earning', 'commission', 'reversal', 'payout', 'carry'));
