/// A Stripe PaymentIntent: the fields the platform reads.
public struct StripePaymentIntent: Sendable, Decodable, Equatable {
    /// `requires_payment_method`, `requires_confirmation`, `requires_action`, `processing`,
    /// `requires_capture`, `canceled` or `succeeded`.
    public struct Status: RawRepresentable, Sendable, Decodable, Hashable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public static let requiresPaymentMethod = Status(rawValue: "requires_payment_method")
        public static let requiresConfirmation = Status(rawValue: "requires_confirmation")
        public static let requiresAction = Status(rawValue: "requires_action")
        public static let processing = Status(rawValue: "processing")
        public static let requiresCapture = Status(rawValue: "requires_capture")
        public static let canceled = Status(rawValue: "canceled")
        public static let succeeded = Status(rawValue: "succeeded")
    }

    /// Why the last attempt failed (a decline), as Stripe reports it.
    public struct LastPaymentError: Sendable, Decodable, Equatable {
        public let type: String?
        public let code: String?
        public let declineCode: String?
        public let message: String?

        enum CodingKeys: String, CodingKey { case type, code, declineCode = "decline_code", message }
    }

    public let id: String
    public let amount: Int
    public let currency: String
    public let status: Status
    public let customer: String?
    public let paymentMethod: String?
    public let transferGroup: String?
    public let metadata: [String: String]
    public let lastPaymentError: LastPaymentError?
    public let created: Int?
    /// What the customer must do next (`next_action.type`: `use_stripe_sdk` and `redirect_to_url`
    /// ask them to authenticate; `display_bank_transfer_instructions`, `verify_with_microdeposits`
    /// and the vouchers' `…_display_details` wait for a payment they make later).
    public let nextActionType: String?
    /// `duplicate`, `fraudulent`, `requested_by_customer`, `abandoned`… once canceled.
    public let cancellationReason: String?

    /// The amount as money (ISO minor units + currency; `amount` is in Stripe's units).
    public var money: Money { StripeAmount.money(amount, currency: currency) }

    enum CodingKeys: String, CodingKey {
        case id, amount, currency, status, customer, metadata, created
        case paymentMethod = "payment_method", transferGroup = "transfer_group", lastPaymentError = "last_payment_error"
        case nextAction = "next_action", cancellationReason = "cancellation_reason"
    }

    private struct NextAction: Decodable { let type: String? }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        amount = try c.decode(Int.self, forKey: .amount)
        currency = try c.decode(String.self, forKey: .currency)
        status = try c.decode(Status.self, forKey: .status)
        customer = try c.decodeIfPresent(String.self, forKey: .customer)
        paymentMethod = try c.decodeIfPresent(String.self, forKey: .paymentMethod)
        transferGroup = try c.decodeIfPresent(String.self, forKey: .transferGroup)
        metadata = try c.decodeIfPresent([String: String].self, forKey: .metadata) ?? [:]
        lastPaymentError = try c.decodeIfPresent(LastPaymentError.self, forKey: .lastPaymentError)
        created = try c.decodeIfPresent(Int.self, forKey: .created)
        nextActionType = (try? c.decodeIfPresent(NextAction.self, forKey: .nextAction))?.type
        cancellationReason = try c.decodeIfPresent(String.self, forKey: .cancellationReason)
    }
}

/// A Stripe Connect transfer to a connected account.
public struct StripeTransfer: Sendable, Decodable, Equatable {
    public let id: String
    public let amount: Int
    public let amountReversed: Int
    public let currency: String
    public let destination: String
    public let destinationPayment: String?
    public let reversed: Bool
    public let transferGroup: String?
    public let created: Int?
    public let metadata: [String: String]

    /// The amount as money (ISO minor units + currency; `amount` is in Stripe's units).
    public var money: Money { StripeAmount.money(amount, currency: currency) }

    enum CodingKeys: String, CodingKey {
        case id, amount, currency, destination, reversed, created, metadata
        case amountReversed = "amount_reversed", destinationPayment = "destination_payment"
        case transferGroup = "transfer_group"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        amount = try c.decode(Int.self, forKey: .amount)
        amountReversed = try c.decodeIfPresent(Int.self, forKey: .amountReversed) ?? 0
        currency = try c.decode(String.self, forKey: .currency)
        destination = try c.decode(String.self, forKey: .destination)
        destinationPayment = try c.decodeIfPresent(String.self, forKey: .destinationPayment)
        reversed = try c.decodeIfPresent(Bool.self, forKey: .reversed) ?? false
        transferGroup = try c.decodeIfPresent(String.self, forKey: .transferGroup)
        created = try c.decodeIfPresent(Int.self, forKey: .created)
        metadata = try c.decodeIfPresent([String: String].self, forKey: .metadata) ?? [:]
    }
}

/// A page of one of Stripe's lists (`{"object": "list", "data": […], "has_more": …}`), newest first.
public struct StripeList<Item: Decodable & Sendable>: Sendable, Decodable {
    public let data: [Item]
    public let hasMore: Bool

    enum CodingKeys: String, CodingKey { case data, hasMore = "has_more" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        data = try c.decode([Item].self, forKey: .data)
        hasMore = try c.decodeIfPresent(Bool.self, forKey: .hasMore) ?? false
    }

    public init(data: [Item], hasMore: Bool) {
        self.data = data
        self.hasMore = hasMore
    }
}

/// A connected account's readiness to receive transfers and payouts.
public struct StripeAccount: Sendable, Decodable, Equatable {
    public struct Capabilities: Sendable, Decodable, Equatable {
        /// `active`, `inactive` or `pending`.
        public let transfers: String?
    }

    public struct Requirements: Sendable, Decodable, Equatable {
        public let currentlyDue: [String]
        public let disabledReason: String?

        enum CodingKeys: String, CodingKey { case currentlyDue = "currently_due", disabledReason = "disabled_reason" }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            currentlyDue = try c.decodeIfPresent([String].self, forKey: .currentlyDue) ?? []
            disabledReason = try c.decodeIfPresent(String.self, forKey: .disabledReason)
        }
    }

    public let id: String
    public let payoutsEnabled: Bool
    public let capabilities: Capabilities?
    public let requirements: Requirements?

    /// Transfers can be sent to it now: the `transfers` capability is `active`.
    public var canReceiveTransfers: Bool { capabilities?.transfers == "active" }

    enum CodingKeys: String, CodingKey { case id, capabilities, requirements, payoutsEnabled = "payouts_enabled" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        payoutsEnabled = try c.decodeIfPresent(Bool.self, forKey: .payoutsEnabled) ?? false
        capabilities = try c.decodeIfPresent(Capabilities.self, forKey: .capabilities)
        requirements = try c.decodeIfPresent(Requirements.self, forKey: .requirements)
    }
}
