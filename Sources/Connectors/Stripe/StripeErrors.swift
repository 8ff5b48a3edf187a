/// Stripe's error object, `{"error": {type, code, decline_code, message, param, payment_intent}}`,
/// read into `ConnectorError`: a 402 `card_error` is a typed decline, an `idempotency_error` a
/// mismatch, a 429 a rate limit; the rest follow the status. A 4xx that would say "Stripe read
/// this request and refused it" (400, 402, 404, …) but carries no Stripe error object did not come
/// from Stripe (a proxy or gateway in front of it, a wrong `stripe.url`): it says nothing of what
/// Stripe did with an earlier send under the same idempotency key, so it is an unexpected answer,
/// which leaves a charge or payout pending, never a refusal, which would let it be made again
/// under a new key.
enum StripeErrors {
    static let reader = ServiceErrorReader(
        details: { response in
            let error = ServiceErrorReader.object(response)?["error"]
            return (error?["message"]?.stringValue, error?["code"]?.stringValue)
        },
        special: { response, service in
            let error = ServiceErrorReader.object(response)?["error"]
            let type = error?["type"]?.stringValue
            let message = error?["message"]?.stringValue ?? "HTTP \(response.status)"
            if type == "card_error" {
                return .declined(service: service, code: error?["code"]?.stringValue ?? "card_declined",
                                 declineCode: error?["decline_code"]?.stringValue, message: message,
                                 paymentIntentID: error?["payment_intent"]?["id"]?.stringValue)
            }
            if type == "idempotency_error", response.status == 400 {
                return .idempotencyMismatch(service: service, message: message)
            }
            if type == nil, (400..<500).contains(response.status), ![401, 403, 408, 409, 425, 429].contains(response.status) {
                return .unexpectedResponse(service: service, status: response.status,
                                           reason: "HTTP \(response.status) without Stripe's error object: not Stripe's answer "
                                               + "(a proxy or gateway in front of it, or a wrong stripe.url?)")
            }
            return nil
        })
}
