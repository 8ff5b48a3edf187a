/// A page of a Payload collection: `{docs, totalDocs, limit, totalPages, page, pagingCounter,
/// hasPrevPage, hasNextPage, prevPage, nextPage}`.
public struct PayloadPage<Document: Decodable & Sendable>: Sendable, Decodable {
    public let docs: [Document]
    public let totalDocs: Int
    public let limit: Int
    public let totalPages: Int
    public let page: Int?
    public let pagingCounter: Int?
    public let hasPrevPage: Bool
    public let hasNextPage: Bool
    public let prevPage: Int?
    public let nextPage: Int?
}

/// What `POST` and `PATCH` answer: `{doc, message}`.
struct PayloadDocumentAnswer<Document: Decodable>: Decodable {
    let doc: Document
    let message: String?
}

/// Collections the platform writes to.
public enum PayloadCollection {
    /// The content side of products: copy, SEO, media, owned by content editors.
    public static let productsContent = "products-content"
}

/// One condition of a Payload query (`where[field][operator]=value`).
public enum PayloadCondition: Sendable, Equatable {
    case equals(String, String)
    /// Any of the values (Payload's `in`, comma-separated).
    case isIn(String, [String])

    var queryItem: (String, String) {
        switch self {
        case .equals(let field, let value): return ("where[\(field)][equals]", value)
        case .isIn(let field, let values): return ("where[\(field)][in]", values.joined(separator: ","))
        }
    }
}
