/// A place for a pickup or a drop-off, as Fleetbase takes it inline in an order.
public struct FleetbasePlace: Sendable, Codable, Equatable {
    public var name: String?
    public var street1: String
    public var street2: String?
    public var city: String?
    public var postalCode: String?
    public var country: String?
    public var phone: String?

    public init(name: String? = nil, street1: String, street2: String? = nil, city: String? = nil,
                postalCode: String? = nil, country: String? = nil, phone: String? = nil) {
        self.name = name
        self.street1 = street1
        self.street2 = street2
        self.city = city
        self.postalCode = postalCode
        self.country = country
        self.phone = phone
    }

    enum CodingKeys: String, CodingKey {
        case name, street1, street2, city, country, phone, postalCode = "postal_code"
    }
}

/// A delivery order and its status (`created`, `dispatched`, `started`, `completed`, `canceled`, …).
public struct FleetbaseOrder: Sendable, Decodable, Equatable {
    public let id: String
    public let status: String
    public let internalID: String?
    public let meta: [String: JSON]?
    public let createdAt: String?
    public let updatedAt: String?

    enum CodingKeys: String, CodingKey {
        case id, status, meta, internalID = "internal_id", createdAt = "created_at", updatedAt = "updated_at"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        status = try c.decode(String.self, forKey: .status)
        internalID = try c.decodeIfPresent(String.self, forKey: .internalID)
        // Fleetbase answers `[]` for an empty meta (PHP): read only an object.
        meta = try? c.decodeIfPresent([String: JSON].self, forKey: .meta)
        createdAt = try c.decodeIfPresent(String.self, forKey: .createdAt)
        updatedAt = try c.decodeIfPresent(String.self, forKey: .updatedAt)
    }
}
