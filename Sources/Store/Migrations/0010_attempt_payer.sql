-- 0010_attempt_payer: a payment attempt keeps the customer and payment method it charges.
--
-- A resumed attempt (a crash after Stripe answered, a PaymentIntent still processing) is sent again
-- with the same idempotency key, and Stripe answers a second request under one key with the first
-- one's result only if its parameters are the same. The payer used to be read from the subscription
-- at resume time; a card changed in between (subscription.update) made the resend an idempotency
-- error, and the invoice stayed open with its attempt pending, out of dunning. Attempts made before
-- this migration have no payer stored and are resumed as before.

ALTER TABLE payment_attempts ADD COLUMN customer_id text;
ALTER TABLE payment_attempts ADD COLUMN payment_method text;
