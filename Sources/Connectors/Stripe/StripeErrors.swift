/// Stripe's error object, `{"error": {type, code, decline_code, message, param, payment_intent}}`,
/// read into `ConnectorError`: a 402 `card_error` is a typed decline, an `idempotency_error` a
/// mismatch, a 429 a rate limit; the rest follow the status.
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
            return nil
        })
}
