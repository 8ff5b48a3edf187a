import Foundation

/// A Medusa v2 product with its variants and their prices (the Admin API's default fields).
public struct MedusaProduct: Sendable, Decodable, Equatable {
    public let id: String
    public let title: String
    public let subtitle: String?
    public let description: String?
    public let handle: String?
    /// `draft`, `proposed`, `published` or `rejected`.
    public let status: String?
    public let metadata: [String: JSON]?
    public let variants: [MedusaVariant]
    public let updatedAt: String?
    /// The platform's change counter (1 when created, +1 on every update), when the store has one.
    public let version: Int?

    enum CodingKeys: String, CodingKey {
        case id, title, subtitle, description, handle, status, metadata, variants, version, updatedAt = "updated_at"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        title = try c.decode(String.self, forKey: .title)
        subtitle = try c.decodeIfPresent(String.self, forKey: .subtitle)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        handle = try c.decodeIfPresent(String.self, forKey: .handle)
        status = try c.decodeIfPresent(String.self, forKey: .status)
        metadata = try c.decodeIfPresent([String: JSON].self, forKey: .metadata)
        variants = try c.decodeIfPresent([MedusaVariant].self, forKey: .variants) ?? []
        updatedAt = try c.decodeIfPresent(String.self, forKey: .updatedAt)
        version = try c.decodeIfPresent(Int.self, forKey: .version)
    }
}

public struct MedusaVariant: Sendable, Decodable, Equatable {
    public let id: String
    public let title: String?
    public let sku: String?
    public let inventoryQuantity: Int?
    public let prices: [MedusaPrice]

    enum CodingKeys: String, CodingKey { case id, title, sku, prices, inventoryQuantity = "inventory_quantity" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        title = try c.decodeIfPresent(String.self, forKey: .title)
        sku = try c.decodeIfPresent(String.self, forKey: .sku)
        inventoryQuantity = try c.decodeIfPresent(Int.self, forKey: .inventoryQuantity)
        prices = try c.decodeIfPresent([MedusaPrice].self, forKey: .prices) ?? []
    }
}

/// A variant's price. Medusa v2 stores amounts in major units (`19.99`); here it is exact money.
public struct MedusaPrice: Sendable, Decodable, Equatable {
    public let id: String?
    public let money: Money

    enum CodingKeys: String, CodingKey { case id, amount, currencyCode = "currency_code" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(String.self, forKey: .id)
        money = try MedusaAmount.decode(c, .amount, currency: try c.decode(String.self, forKey: .currencyCode))
    }
}

/// A Medusa order with its lines, amounts converted to minor units.
public struct MedusaOrder: Sendable, Decodable, Equatable {
    public let id: String
    public let displayID: Int?
    public let status: String?
    public let currency: String
    public let email: String?
    public let customerID: String?
    public let metadata: [String: JSON]?
    public let items: [MedusaLineItem]
    public let total: Money?

    enum CodingKeys: String, CodingKey {
        case id, status, email, metadata, items, total
        case displayID = "display_id", currency = "currency_code", customerID = "customer_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        displayID = try c.decodeIfPresent(Int.self, forKey: .displayID)
        status = try c.decodeIfPresent(String.self, forKey: .status)
        let currency = try c.decode(String.self, forKey: .currency)
        self.currency = currency
        email = try c.decodeIfPresent(String.self, forKey: .email)
        customerID = try c.decodeIfPresent(String.self, forKey: .customerID)
        metadata = try c.decodeIfPresent([String: JSON].self, forKey: .metadata)
        let lines = try c.decodeIfPresent([MedusaLineItem.Raw].self, forKey: .items) ?? []
        let path = c.codingPath
        items = try lines.map { try $0.item(currency: currency, codingPath: path) }
        // Informational only (the lines carry the money): Medusa v2 may send a total with fractions
        // of a cent (its tax rounding) or null, which must not make the order unreadable.
        total = ((try? c.decodeIfPresent(Decimal.self, forKey: .total)) ?? nil).flatMap { Money(majorUnits: $0, currency: currency) }
    }
}

public struct MedusaLineItem: Sendable, Equatable {
    public let id: String
    public let title: String?
    public let quantity: Int
    public let unitPrice: Money
    public let productID: String?
    public let variantID: String?
    public let metadata: [String: JSON]?

    struct Raw: Decodable {
        let id: String
        let title: String?
        let quantity: Int
        let unit_price: Decimal
        let product_id: String?
        let variant_id: String?
        let metadata: [String: JSON]?

        func item(currency: String, codingPath: [any CodingKey]) throws -> MedusaLineItem {
            guard let price = Money(majorUnits: unit_price, currency: currency) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath,
                    debugDescription: "unit_price \(unit_price) is not a whole number of \(currency) minor units"))
            }
            return MedusaLineItem(id: id, title: title, quantity: quantity, unitPrice: price, productID: product_id,
                                  variantID: variant_id, metadata: metadata)
        }
    }
}

/// Medusa v2 amounts are decimals in major units; the platform's money is integer minor units.
enum MedusaAmount {
    static func decode<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K, currency: String) throws -> Money {
        let amount = try c.decode(Decimal.self, forKey: key)
        guard let money = Money(majorUnits: amount, currency: currency) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: c,
                debugDescription: "\(amount) is not a whole number of \(currency) minor units")
        }
        return money
    }
}

/// A page of products: `{products, count, offset, limit}`. A product this build cannot read (a price
/// finer than its currency's minor unit, a field of another type) is left out of `products` and
/// named in `unreadable`, so that one bad product does not make its whole page, and every page
/// after it, unreadable.
public struct MedusaProductPage: Sendable, Decodable, Equatable {
    public let products: [MedusaProduct]
    public let unreadable: [Unreadable]
    public let count: Int
    public let offset: Int
    public let limit: Int

    public struct Unreadable: Sendable, Equatable {
        public let id: String?
        public let reason: String
    }

    /// How many products the page listed, read or not: where the next page starts.
    public var listed: Int { products.count + unreadable.count }

    enum CodingKeys: String, CodingKey { case products, count, offset, limit }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var list = try c.nestedUnkeyedContainer(forKey: .products)
        var products: [MedusaProduct] = []
        var unreadable: [Unreadable] = []
        while !list.isAtEnd {
            do {
                products.append(try list.decode(MedusaProduct.self))
            } catch {
                // A failed element leaves the container where it was: read it as plain JSON to move on.
                let raw = try list.decode(JSON.self)
                unreadable.append(Unreadable(id: raw["id"]?.stringValue, reason: "\(error)"))
            }
        }
        self.products = products
        self.unreadable = unreadable
        count = try c.decode(Int.self, forKey: .count)
        offset = try c.decode(Int.self, forKey: .offset)
        limit = try c.decode(Int.self, forKey: .limit)
    }
}

/// A page of orders: `{orders, count, offset, limit}`.
public struct MedusaOrderPage: Sendable, Decodable, Equatable {
    public let orders: [MedusaOrder]
    public let count: Int
    public let offset: Int
    public let limit: Int
}

/// The fields the platform may change on a product (content owns copy; commerce owns the rest).
/// `nil` leaves a field as it is.
public struct MedusaProductUpdate: Sendable, Encodable, Equatable {
    public var title: String?
    public var description: String?
    public var metadata: [String: JSON]?

    public init(title: String? = nil, description: String? = nil, metadata: [String: JSON]? = nil) {
        self.title = title
        self.description = description
        self.metadata = metadata
    }
}
