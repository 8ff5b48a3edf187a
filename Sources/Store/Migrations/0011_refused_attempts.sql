-- 0011_refused_attempts: a payment attempt Stripe refused for a reason the customer cannot fix.
--
-- A PaymentIntent request Stripe turns down as invalid (an amount under its minimum, a customer that
-- is not in this Stripe account, a key without the right, an amount Stripe cannot take exactly) was
-- recorded as a failed attempt, and dunning ran on: past_due, retries, then the tenant's final
-- action. One mistake in the platform's setup would so cancel every subscription it billed within
-- the dunning schedule. Such an attempt is now `refused`: nothing was charged, dunning does not count
-- it, the subscription keeps its status, and the invoice waits for an operator (the job's dead letter
-- says why; replaying it after the fix makes the next attempt at once).

ALTER TABLE payment_attempts DROP CONSTRAINT payment_attempts_status_check;
ALTER TABLE payment_attempts ADD CONSTRAINT payment_attempts_status_check
    CHECK (status IN ('pending', 'succeeded', 'failed', 'refused'));
