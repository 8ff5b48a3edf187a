import Hummingbird

/// Stripe under `/stripe`: PaymentIntents (create, confirm, read), transfers to connected
/// accounts (made, read, listed by group), and connected accounts. Off-session charges succeed unless a decline is scripted for
/// the customer or the payment method is one of Stripe's declining test methods; either way the
/// outcome is also sent as a `payment_intent.*` webhook.
struct StripeRoutes {
    let routes: ServiceRoutes
    var world: SandboxWorld { routes.world }

    func register() {
        let world = world
        routes.stripePost("/v1/payment_intents") { form, _, key throws(ServiceFailure) in
            try Self.createPaymentIntent(form, key: key, world: world)
        }
        routes.stripePost("/v1/payment_intents/{id}/confirm") { form, context, key throws(ServiceFailure) in
            let id = Answer.parameter(context, "id")
            guard var intent = world.stripe.paymentIntents[id] else { throw Self.missing("payment_intent", id) }
            let status = intent["status"]?.string
            guard status == "requires_confirmation" || status == "requires_payment_method" else {
                throw .shaped(.stripe, status: 400, message: "This PaymentIntent's status is \(status ?? "?"); it cannot be confirmed.",
                              code: "payment_intent_unexpected_state")
            }
            if let method = form["payment_method"] { intent["payment_method"] = .string(method) }
            guard intent["payment_method"]?.string != nil else {
                throw stripeInvalid("You cannot confirm this PaymentIntent because it's missing a payment method.",
                                    param: "payment_method")
            }
            return Self.attemptCharge(intent, offSession: try form.bool("off_session"), key: key, world: world)
        }
        routes.stripePost("/v1/payment_intents/{id}/cancel") { form, context, key throws(ServiceFailure) in
            try Self.cancel(Answer.parameter(context, "id"), reason: form["cancellation_reason"], key: key, world: world)
        }
        routes.on(.get, "/v1/payment_intents") { request, _ throws(ServiceFailure) in
            try Self.listPaymentIntents(Answer.query(request), world: world)
        }
        routes.on(.get, "/v1/payment_intents/{id}") { _, context throws(ServiceFailure) in
            let id = Answer.parameter(context, "id")
            guard let intent = world.stripe.paymentIntents[id] else { throw Self.missing("payment_intent", id) }
            return Answer.json(intent)
        }
        routes.stripePost("/v1/transfers") { form, _, key throws(ServiceFailure) in
            try Self.createTransfer(form, key: key, world: world)
        }
        routes.on(.get, "/v1/transfers") { request, _ throws(ServiceFailure) in
            try Self.listTransfers(Answer.query(request), world: world)
        }
        routes.on(.get, "/v1/transfers/{id}") { _, context throws(ServiceFailure) in
            let id = Answer.parameter(context, "id")
            guard let transfer = world.stripe.transfers[id] else { throw Self.missing("transfer", id) }
            return Answer.json(transfer)
        }
        routes.stripePost("/v1/transfers/{id}/reversals") { form, context, key throws(ServiceFailure) in
            try Self.reverseTransfer(Answer.parameter(context, "id"), form, key: key, world: world)
        }
        routes.stripePost("/v1/accounts") { form, _, _ throws(ServiceFailure) in
            var account = Self.newAccount(id: SandboxIDs.stripe("acct"))
            account["type"] = .string(form["type"] ?? "express")
            account["country"] = .string(form["country"] ?? "US")
            account["email"] = form["email"].json
            account["metadata"] = form.metadata
            world.stripe.accounts.put(account["id"]?.string ?? "", account)
            return StripeOutcome(body: account)
        }
        routes.on(.get, "/v1/accounts/{id}") { _, context throws(ServiceFailure) in
            let id = Answer.parameter(context, "id")
            guard let account = world.stripe.accounts[id] else { throw Self.missing("account", id) }
            return Answer.json(account)
        }
    }

    static func createPaymentIntent(_ form: StripeForm, key: String?, world: SandboxWorld) throws(ServiceFailure) -> StripeOutcome {
        let amount = try form.amount()
        let currency = try form.currency()
        let confirm = try form.bool("confirm")
        let offSession = try form.bool("off_session")
        if offSession && !confirm {
            throw stripeInvalid("off_session can only be used when confirm=true.", param: "off_session")
        }
        let method = form["payment_method"]
        if confirm && method == nil {
            throw stripeInvalid("You cannot confirm this PaymentIntent because it's missing a payment method.",
                                param: "payment_method")
        }
        let intent: SandboxJSON = [
            "id": .string(SandboxIDs.stripe("pi")), "object": "payment_intent", "amount": .int(amount),
            "amount_received": 0, "currency": .string(currency), "customer": form["customer"].json,
            "payment_method": method.json, "description": form["description"].json,
            "transfer_group": form["transfer_group"].json, "metadata": form.metadata,
            "status": .string(method == nil ? "requires_payment_method" : "requires_confirmation"),
            "last_payment_error": nil, "latest_charge": nil, "livemode": false, "created": .int(SandboxIDs.now)]
        guard confirm else {
            world.stripe.paymentIntents.put(intent["id"]?.string ?? "", intent)
            return StripeOutcome(body: intent)
        }
        return attemptCharge(intent, offSession: offSession, key: key, world: world)
    }

    /// Charges the intent's payment method: succeeded, or declined (402 `card_error`, the intent
    /// back in `requires_payment_method`), with the matching webhook. A charge the customer's bank
    /// asks them to authenticate waits for them (`requires_action`), or, `offSession` (nobody there
    /// to do it), is declined with `authentication_required`, as Stripe does.
    static func attemptCharge(_ original: SandboxJSON, offSession: Bool, key: String?, world: SandboxWorld) -> StripeOutcome {
        var intent = original
        let id = intent["id"]?.string ?? ""
        let method = intent["payment_method"]?.string ?? ""
        let charge = SandboxIDs.stripe("ch")
        intent["latest_charge"] = .string(charge)
        let unsettled = world.scripting.takeUnsettled(customer: intent["customer"]?.string)
        if let unsettled, unsettled.asksForAuthentication, offSession, !unsettled.evenOffSession {
            return decline(intent, charge: charge, code: "authentication_required", declineCode: "authentication_required",
                           message: "Your card was declined. This transaction requires authentication.", key: key, world: world)
        }
        if let unsettled {
            // A bank debit: Stripe answers `processing`; the outcome comes later, by webhook. Or the
            // customer's bank asks for authentication (3-D Secure), or for a payment they make later:
            // `requires_action`, until the customer acts or the PaymentIntent is canceled.
            intent["status"] = .string(unsettled.status)
            if unsettled.status == "requires_action" {
                let type = unsettled.nextAction ?? "use_stripe_sdk"
                intent["next_action"] = type == "use_stripe_sdk"
                    ? ["type": "use_stripe_sdk", "use_stripe_sdk": ["type": "three_d_secure_redirect"]] : ["type": .string(type)]
            }
            world.stripe.paymentIntents.put(id, intent)
            return StripeOutcome(body: intent)
        }
        let declineCode = world.scripting.takeDecline(customer: intent["customer"]?.string)
            ?? StripeState.decliningPaymentMethods[method]
        if let declineCode {
            let message = declineCode == "insufficient_funds" ? "Your card has insufficient funds." : "Your card was declined."
            return decline(intent, charge: charge, code: "card_declined", declineCode: declineCode, message: message,
                           key: key, world: world)
        }
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        intent["last_payment_error"] = nil
        world.stripe.paymentIntents.put(id, intent)
        return StripeOutcome(body: intent, afterwards: { [intent] in
            send("payment_intent.succeeded", intent, key: key, world: world)
        })
    }

    /// A declined charge: 402 `card_error` with `code` and `declineCode`, the intent back in
    /// `requires_payment_method` with the error as its `last_payment_error`, and
    /// `payment_intent.payment_failed` sent.
    static func decline(_ original: SandboxJSON, charge: String, code: String, declineCode: String, message: String,
                        key: String?, world: SandboxWorld) -> StripeOutcome {
        var intent = original
        let error: [String: SandboxJSON] = [
            "type": "card_error", "code": .string(code), "decline_code": .string(declineCode),
            "message": .string(message), "charge": .string(charge)]
        intent["status"] = "requires_payment_method"
        intent["next_action"] = nil
        var last = error
        last["payment_method"] = ["id": intent["payment_method"] ?? .null]
        intent["last_payment_error"] = .object(last)
        world.stripe.paymentIntents.put(intent["id"]?.string ?? "", intent)
        var body = error
        body["payment_intent"] = intent
        body["doc_url"] = .string("https://stripe.com/docs/error-codes/\(String(code.map { $0 == "_" ? "-" : $0 }))")
        return StripeOutcome(status: 402, body: ["error": .object(body)], afterwards: { [intent] in
            send("payment_intent.payment_failed", intent, key: key, world: world)
        })
    }

    static func createTransfer(_ form: StripeForm, key: String?, world: SandboxWorld) throws(ServiceFailure) -> StripeOutcome {
        let amount = try form.amount()
        let currency = try form.currency()
        let destination = try form.required("destination")
        guard let account = world.stripe.accounts[destination] else {
            throw .shaped(.stripe, status: 400, message: "No such destination: '\(destination)'", code: "resource_missing")
        }
        // As Stripe: an account whose `transfers` capability is not active (onboarding unfinished,
        // requirements past due) cannot receive a transfer.
        guard account["capabilities"]?["transfers"]?.string == "active" else {
            throw .shaped(.stripe, status: 400, message: "Your destination account needs to have at least one of the following "
                + "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                          code: "insufficient_capabilities_for_transfer").adding(param: "destination")
        }
        // As Stripe: a transfer is paid from the platform's available balance (charges still
        // pending do not count), and refused whole when it is short.
        guard world.stripe.takeForTransfer(amount, currency: currency) else {
            throw .shaped(.stripe, status: 400, message: "You have insufficient available funds in your Stripe account. "
                + "Try adding funds directly to your available balance.", code: "balance_insufficient")
        }
        let transfer: SandboxJSON = [
            "id": .string(SandboxIDs.stripe("tr")), "object": "transfer", "amount": .int(amount), "amount_reversed": 0,
            "currency": .string(currency), "destination": .string(destination),
            "destination_payment": .string(SandboxIDs.stripe("py")), "reversed": false,
            "transfer_group": form["transfer_group"].json, "description": form["description"].json,
            "metadata": form.metadata, "livemode": false, "created": .int(SandboxIDs.now)]
        world.stripe.transfers.put(transfer["id"]?.string ?? "", transfer)
        return StripeOutcome(body: transfer, afterwards: {
            send("transfer.created", transfer, key: key, world: world)
        })
    }

    /// `POST /v1/transfers/{id}/reversals`: returns `amount` (by default all that is left) of a
    /// transfer from the connected account; the transfer's `amount_reversed` grows, and it is
    /// `reversed` once all of it is back. Answers the reversal object and sends `transfer.reversed`.
    static func reverseTransfer(_ id: String, _ form: StripeForm, key: String?,
                                world: SandboxWorld) throws(ServiceFailure) -> StripeOutcome {
        let requested = try form["amount"] == nil ? nil : form.amount()
        var amount = 0
        var left = 0
        // Checked and changed under the store's lock: two reversals at once cannot both take what is left.
        let changed = world.stripe.transfers.update(id) { transfer in
            let total = transfer["amount"]?.int ?? 0
            let already = transfer["amount_reversed"]?.int ?? 0
            left = total - already
            amount = requested ?? left
            guard amount > 0, amount <= left else { return }
            transfer["amount_reversed"] = .int(already + amount)
            transfer["reversed"] = .bool(already + amount == total)
        }
        guard let transfer = changed else { throw missing("transfer", id) }
        guard left > 0 else { throw stripeInvalid("Transfer \(id) has already been fully reversed.") }
        guard amount > 0, amount <= left else {
            throw stripeInvalid("Refund amount (\(amount)) is greater than transfer amount left (\(left))", param: "amount")
        }
        let reversal: SandboxJSON = [
            "id": .string(SandboxIDs.stripe("trr")), "object": "transfer_reversal", "amount": .int(amount),
            "currency": transfer["currency"] ?? .null, "transfer": .string(id), "metadata": form.metadata,
            "created": .int(SandboxIDs.now)]
        return StripeOutcome(body: reversal, afterwards: { [transfer] in
            send("transfer.reversed", transfer, key: key, world: world)
        })
    }

    /// `POST /v1/payment_intents/{id}/cancel`: allowed while the PaymentIntent has not succeeded or
    /// been canceled (Stripe's statuses `requires_payment_method`, `requires_capture`,
    /// `requires_confirmation`, `requires_action`, `processing`); `payment_intent.canceled` follows.
    static func cancel(_ id: String, reason: String?, key: String?, world: SandboxWorld) throws(ServiceFailure) -> StripeOutcome {
        let reasons: Set = ["duplicate", "fraudulent", "requested_by_customer", "abandoned"]
        if let reason, !reasons.contains(reason) {
            throw stripeInvalid("Invalid cancellation_reason: must be one of \(reasons.sorted().joined(separator: ", "))",
                                param: "cancellation_reason")
        }
        guard let intent = world.stripe.paymentIntents[id] else { throw missing("payment_intent", id) }
        let status = intent["status"]?.string ?? "?"
        guard !["succeeded", "canceled"].contains(status) else {
            throw .shaped(.stripe, status: 400, message: "You cannot cancel this PaymentIntent because it has a status of \(status).",
                          code: "payment_intent_unexpected_state")
        }
        let canceled = world.stripe.paymentIntents.update(id) { intent in
            intent["status"] = "canceled"
            intent["next_action"] = nil
            intent["cancellation_reason"] = reason.json
            intent["canceled_at"] = .int(SandboxIDs.now)
        } ?? intent
        return StripeOutcome(body: canceled, afterwards: {
            send("payment_intent.canceled", canceled, key: key, world: world)
        })
    }

    /// `GET /v1/payment_intents`: newest first, filtered by `customer` and `created[gte]` when
    /// given, `limit` 1–100 (default 10), from the one after `starting_after` when given.
    static func listPaymentIntents(_ query: [String: String], world: SandboxWorld) throws(ServiceFailure) -> Response {
        try list(Array(world.stripe.paymentIntents.all.reversed()), "payment_intent", url: "/v1/payment_intents", query: query) {
            var keep = true
            if let customer = query["customer"] { keep = keep && $0["customer"]?.string == customer }
            return keep
        }
    }

    /// One page of `all` (newest first) as Stripe lists it: `starting_after`, then `filter` and
    /// `created[gte]`, then `limit` (1–100, default 10).
    private static func list(_ all: [SandboxJSON], _ object: String, url: String, query: [String: String],
                             filter: (SandboxJSON) -> Bool) throws(ServiceFailure) -> Response {
        var limit = 10
        if let text = query["limit"] {
            guard let number = Int(text), (1...100).contains(number) else {
                throw stripeInvalid("Invalid integer: \(text); limit must be between 1 and 100.", param: "limit")
            }
            limit = number
        }
        var found = all
        if let after = query["starting_after"] {
            // Its place in the whole list, filtered or not, as a cursor is.
            guard let place = found.firstIndex(where: { $0["id"]?.string == after }) else {
                throw stripeInvalid("No such \(object): '\(after)'", param: "starting_after")
            }
            found = Array(found[(place + 1)...])
        }
        found = found.filter(filter)
        if let text = query["created[gte]"] {
            guard let since = Int(text) else { throw stripeInvalid("Invalid integer: \(text)", param: "created[gte]") }
            found = found.filter { ($0["created"]?.int ?? 0) >= since }
        }
        return Answer.json(["object": "list", "url": .string(url), "has_more": .bool(found.count > limit),
                            "data": .array(Array(found.prefix(limit)))])
    }

    /// `GET /v1/transfers`: newest first, filtered by `transfer_group`, `destination` and
    /// `created[gte]` when given, `limit` 1–100 (default 10), from the one after `starting_after`
    /// when given (a transfer that does not exist is refused, as Stripe refuses it).
    static func listTransfers(_ query: [String: String], world: SandboxWorld) throws(ServiceFailure) -> Response {
        try list(Array(world.stripe.transfers.all.reversed()), "transfer", url: "/v1/transfers", query: query) {
            var keep = true
            if let group = query["transfer_group"] { keep = keep && $0["transfer_group"]?.string == group }
            if let destination = query["destination"] { keep = keep && $0["destination"]?.string == destination }
            return keep
        }
    }

    /// Settles a `processing` PaymentIntent (the control API), as the bank's answer would, and sends
    /// its event; nil when there is no such intent in `processing`.
    static func settle(_ id: String, succeeded: Bool, world: SandboxWorld) -> SandboxJSON? {
        guard world.stripe.paymentIntents[id]?["status"]?.string == "processing" else { return nil }
        let settled = world.stripe.paymentIntents.update(id) { intent in
            if succeeded {
                intent["status"] = "succeeded"
                intent["amount_received"] = intent["amount"] ?? 0
            } else {
                intent["status"] = "requires_payment_method"
                intent["last_payment_error"] = ["type": "card_error", "code": "payment_method_customer_decline",
                                                "message": "The customer's bank refused the debit."]
            }
        }
        if let settled {
            send(succeeded ? "payment_intent.succeeded" : "payment_intent.payment_failed", settled, key: nil, world: world)
        }
        return settled
    }

    /// A connected account, ready for charges and payouts.
    static func newAccount(id: String) -> SandboxJSON {
        ["id": .string(id), "object": "account", "type": "express", "country": "US", "email": nil,
         "charges_enabled": true, "payouts_enabled": true, "details_submitted": true,
         "capabilities": ["transfers": "active", "card_payments": "active"],
         "requirements": ["currently_due": [], "disabled_reason": nil], "metadata": [:],
         "created": .int(SandboxIDs.now)]
    }

    /// Sets whether account `id` can receive payouts and transfers, as Stripe's onboarding or
    /// review would (the control API's `POST /_sandbox/stripe/accounts/{id}`); creates the account
    /// if needed. Unnamed, the `transfers` capability follows `payoutsEnabled` (`active` or
    /// `inactive`); named, it is set apart, as Stripe's two change apart. Nil keeps a setting.
    static func account(id: String, payoutsEnabled: Bool?, transfers: String? = nil, world: SandboxWorld) -> SandboxJSON {
        let set = { (account: inout SandboxJSON) in
            let payouts = payoutsEnabled ?? account["payouts_enabled"]?.bool ?? true
            let capability = transfers ?? (payoutsEnabled.map { $0 ? "active" : "inactive" }
                ?? account["capabilities"]?["transfers"]?.string ?? "active")
            account["payouts_enabled"] = .bool(payouts)
            account["capabilities"] = ["transfers": .string(capability), "card_payments": "active"]
            let ready = payouts && capability == "active"
            account["requirements"] = ["currently_due": ready ? [] : [payouts ? "individual.verification.document" : "external_account"],
                                       "disabled_reason": ready ? nil : "requirements.past_due"]
        }
        if let account = world.stripe.accounts.update(id, set) { return account }
        var account = newAccount(id: id)
        set(&account)
        world.stripe.accounts.put(id, account)
        return account
    }

    static func send(_ type: String, _ object: SandboxJSON, key: String?, world: SandboxWorld) {
        let event = StripeState.event(type: type, object: object, idempotencyKey: key)
        world.webhooks.send(.stripe, eventID: event["id"]?.string ?? "", type: type, body: event)
    }

    static func missing(_ kind: String, _ id: String) -> ServiceFailure {
        .notFound(.stripe, "No such \(kind): '\(id)'")
    }
}
