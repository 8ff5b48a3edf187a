/// Stripe: off-session charges with PaymentIntents, Connect transfers, connected accounts.
///
/// Requests are form-encoded with `Authorization: Bearer sk_…`; every POST carries the caller's
/// `Idempotency-Key` (derive it from the job id, so a redelivered job repeats the same call and
/// Stripe answers it once). Declines are `ConnectorError.declined` (not retryable).
public struct StripeConnector: Sendable {
    public let client: ServiceClient

    public init(client: ServiceClient) { self.client = client }

    /// What to create a PaymentIntent with.
    public struct PaymentIntentParameters: Sendable {
        public var amount: Money
        public var customer: String?
        public var paymentMethod: String?
        /// Confirm at once (`confirm=true`): the charge is attempted in this call.
        public var confirm: Bool
        /// The customer is not present (`off_session=true`): a saved payment method is charged.
        public var offSession: Bool
        public var description: String?
        public var transferGroup: String?
        public var metadata: [String: String]

        public init(amount: Money, customer: String? = nil, paymentMethod: String? = nil, confirm: Bool = false,
                    offSession: Bool = false, description: String? = nil, transferGroup: String? = nil,
                    metadata: [String: String] = [:]) {
            self.amount = amount
            self.customer = customer
            self.paymentMethod = paymentMethod
            self.confirm = confirm
            self.offSession = offSession
            self.description = description
            self.transferGroup = transferGroup
            self.metadata = metadata
        }
    }

    /// `POST /v1/payment_intents`.
    public func createPaymentIntent(_ parameters: PaymentIntentParameters,
                                    idempotencyKey: String) async throws(ConnectorError) -> StripePaymentIntent {
        var form = FormParameters()
        form.add("amount", try StripeAmount.units(parameters.amount))
        form.add("currency", parameters.amount.currency)
        form.add("customer", parameters.customer)
        form.add("payment_method", parameters.paymentMethod)
        if parameters.confirm { form.add("confirm", true) }
        if parameters.offSession { form.add("off_session", true) }
        form.add("description", parameters.description)
        form.add("transfer_group", parameters.transferGroup)
        form.add("metadata", parameters.metadata)
        return try await client.send(
            ServiceRequest(.post, "/v1/payment_intents", body: .form(form), idempotencyKey: idempotencyKey),
            decoding: StripePaymentIntent.self)
    }

    /// Charges a saved payment method with the customer absent: a PaymentIntent created with
    /// `confirm=true` and `off_session=true`. A decline throws `ConnectorError.declined`.
    public func chargeOffSession(amount: Money, customer: String, paymentMethod: String,
                                 description: String? = nil, transferGroup: String? = nil,
                                 metadata: [String: String] = [:],
                                 idempotencyKey: String) async throws(ConnectorError) -> StripePaymentIntent {
        try await createPaymentIntent(
            PaymentIntentParameters(amount: amount, customer: customer, paymentMethod: paymentMethod, confirm: true,
                                    offSession: true, description: description, transferGroup: transferGroup,
                                    metadata: metadata),
            idempotencyKey: idempotencyKey)
    }

    /// `POST /v1/payment_intents/{id}/confirm`, e.g. off-session with a saved payment method.
    public func confirmPaymentIntent(id: String, paymentMethod: String? = nil, offSession: Bool = true,
                                     idempotencyKey: String) async throws(ConnectorError) -> StripePaymentIntent {
        var form = FormParameters()
        form.add("payment_method", paymentMethod)
        if offSession { form.add("off_session", true) }
        return try await client.send(
            ServiceRequest(.post, "/v1/payment_intents/\(ServiceRequest.segment(id))/confirm",
                           endpoint: "POST /v1/payment_intents/{id}/confirm", body: .form(form),
                           idempotencyKey: idempotencyKey),
            decoding: StripePaymentIntent.self)
    }

    /// `POST /v1/payment_intents/{id}/cancel`: a PaymentIntent that has not succeeded can never
    /// charge once canceled. Stripe refuses one that succeeded or was canceled already
    /// (`payment_intent_unexpected_state`). Sent without an idempotency key, on purpose: canceling
    /// twice is canceling once, and under a key Stripe would answer every repeat for a day with the
    /// first answer, a 500 included; without one, a repeat asks again.
    public func cancelPaymentIntent(id: String, reason: String? = nil) async throws(ConnectorError) -> StripePaymentIntent {
        var form = FormParameters()
        form.add("cancellation_reason", reason)
        return try await client.send(
            ServiceRequest(.post, "/v1/payment_intents/\(ServiceRequest.segment(id))/cancel",
                           endpoint: "POST /v1/payment_intents/{id}/cancel", body: .form(form), idempotent: true),
            decoding: StripePaymentIntent.self)
    }

    /// `GET /v1/payment_intents`: a customer's PaymentIntents created since a time (Unix seconds),
    /// newest first; a page of 100, the one after `startingAfter` when given. Reads Stripe's record
    /// itself, which outlives the 24 hours it keeps idempotency keys for.
    public func paymentIntents(customer: String, createdSince: Int? = nil,
                               startingAfter: String? = nil) async throws(ConnectorError) -> StripeList<StripePaymentIntent> {
        var query: [(String, String)] = [("customer", customer)]
        if let createdSince { query.append(("created[gte]", "\(createdSince)")) }
        if let startingAfter { query.append(("starting_after", startingAfter)) }
        query.append(("limit", "100"))
        return try await client.send(ServiceRequest(.get, "/v1/payment_intents", query: query),
                                     decoding: StripeList<StripePaymentIntent>.self)
    }

    /// `GET /v1/payment_intents/{id}`.
    public func paymentIntent(id: String) async throws(ConnectorError) -> StripePaymentIntent {
        try await client.send(
            ServiceRequest(.get, "/v1/payment_intents/\(ServiceRequest.segment(id))",
                           endpoint: "GET /v1/payment_intents/{id}"),
            decoding: StripePaymentIntent.self)
    }

    /// `POST /v1/transfers`: moves `amount` from the platform's balance to a connected account.
    public func createTransfer(amount: Money, destination: String, transferGroup: String? = nil,
                               description: String? = nil, metadata: [String: String] = [:],
                               idempotencyKey: String) async throws(ConnectorError) -> StripeTransfer {
        guard amount.minorUnits > 0 else {
            throw .invalidRequest(service: .stripe, message: "a transfer amount must be positive (got \(amount))")
        }
        var form = FormParameters()
        form.add("amount", try StripeAmount.units(amount))
        form.add("currency", amount.currency)
        form.add("destination", destination)
        form.add("transfer_group", transferGroup)
        form.add("description", description)
        form.add("metadata", metadata)
        return try await client.send(
            ServiceRequest(.post, "/v1/transfers", body: .form(form), idempotencyKey: idempotencyKey),
            decoding: StripeTransfer.self)
    }

    /// `GET /v1/transfers`: the transfers made in a transfer group, or to a destination, or created
    /// since a time (Unix seconds), newest first; a page of 100, the one after the transfer
    /// `startingAfter` when given (`hasMore` says whether another follows). GET carries no
    /// idempotency key: this reads Stripe's record itself, which outlives the 24 hours it keeps keys for.
    public func transfers(group: String? = nil, destination: String? = nil, createdSince: Int? = nil,
                          startingAfter: String? = nil) async throws(ConnectorError) -> StripeList<StripeTransfer> {
        var query: [(String, String)] = []
        if let group { query.append(("transfer_group", group)) }
        if let destination { query.append(("destination", destination)) }
        if let createdSince { query.append(("created[gte]", "\(createdSince)")) }
        if let startingAfter { query.append(("starting_after", startingAfter)) }
        query.append(("limit", "100"))
        return try await client.send(ServiceRequest(.get, "/v1/transfers", query: query), decoding: StripeList<StripeTransfer>.self)
    }

    /// Every transfer ``transfers(group:destination:createdSince:startingAfter:)`` lists, read page
    /// by page up to `pageLimit` pages (`hasMore`: more match than were read).
    public func allTransfers(group: String? = nil, destination: String? = nil, createdSince: Int? = nil,
                             pageLimit: Int = StripeConnector.pageLimit) async throws(ConnectorError) -> StripeList<StripeTransfer> {
        try await Self.pages(pageLimit, id: \.id) { after throws(ConnectorError) in
            try await transfers(group: group, destination: destination, createdSince: createdSince, startingAfter: after)
        }
    }

    /// Every PaymentIntent ``paymentIntents(customer:createdSince:startingAfter:)`` lists, read page
    /// by page up to `pageLimit` pages (`hasMore`: more match than were read).
    public func allPaymentIntents(customer: String, createdSince: Int? = nil,
                                  pageLimit: Int = StripeConnector.pageLimit) async throws(ConnectorError) -> StripeList<StripePaymentIntent> {
        try await Self.pages(pageLimit, id: \.id) { after throws(ConnectorError) in
            try await paymentIntents(customer: customer, createdSince: createdSince, startingAfter: after)
        }
    }

    /// 10 pages of 100: far more than one payout's transfer group, a vendor's day or a customer's
    /// charges since an attempt hold, and a bound on the calls one read makes.
    public static let pageLimit = 10

    /// Pages of a Stripe list, each from the one after the last item read, until one says no more
    /// follow or `limit` pages were read.
    private static func pages<Item>(_ limit: Int, id: (Item) -> String,
                                    _ page: (String?) async throws(ConnectorError) -> StripeList<Item>)
        async throws(ConnectorError) -> StripeList<Item> {
        var items: [Item] = []
        var hasMore = false
        var after: String?
        for _ in 0..<max(limit, 1) {
            let next = try await page(after)
            items += next.data
            hasMore = next.hasMore
            guard next.hasMore, let last = next.data.last else { break }
            after = id(last)
        }
        return StripeList(data: items, hasMore: hasMore)
    }

    /// `GET /v1/transfers/{id}`: one transfer, as Stripe holds it now (reversals included).
    public func transfer(id: String) async throws(ConnectorError) -> StripeTransfer {
        try await client.send(
            ServiceRequest(.get, "/v1/transfers/\(ServiceRequest.segment(id))", endpoint: "GET /v1/transfers/{id}"),
            decoding: StripeTransfer.self)
    }

    /// `GET /v1/accounts/{id}`: a connected account's readiness.
    public func account(id: String) async throws(ConnectorError) -> StripeAccount {
        try await client.send(
            ServiceRequest(.get, "/v1/accounts/\(ServiceRequest.segment(id))", endpoint: "GET /v1/accounts/{id}"),
            decoding: StripeAccount.self)
    }
}
