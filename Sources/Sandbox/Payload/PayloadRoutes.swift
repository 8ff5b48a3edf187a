import Foundation
import Hummingbird

/// Payload CMS 3's REST API under `/payload`: find (`where[field][equals|in]`, paginated), read,
/// create (201 `{doc, message}`) and update (`PATCH`, `{doc, message}`) in any collection.
/// Documents carry a `version` (1 when created, +1 on every update) beside `updatedAt`. Like the
/// platform's collection hooks, a write sends `content.published` when a `products-content`
/// document is published after it, and a new `media` document sends `media.uploaded`.
struct PayloadRoutes {
    let routes: ServiceRoutes

    func register() {
        let world = routes.world
        let state = world.payload
        routes.on(.get, "/api/{collection}") { request, context throws(ServiceFailure) in
            let collection = Answer.parameter(context, "collection")
            let store = state.collection(collection)
            let query = Answer.query(request)
            let docs = store.all.map { Self.populated($0, in: collection, query: query, state: state) }
            return Answer.json(try Self.find(docs, query: query))
        }
        routes.on(.get, "/api/{collection}/{id}") { request, context throws(ServiceFailure) in
            let collection = Answer.parameter(context, "collection")
            let store = state.collection(collection)
            guard let doc = store[Answer.parameter(context, "id")] else { throw .notFound(.payload, "") }
            return Answer.json(Self.populated(doc, in: collection, query: Answer.query(request), state: state))
        }
        routes.on(.post, "/api/{collection}") { request, context throws(ServiceFailure) in
            let store = state.collection(Answer.parameter(context, "collection"))
            var fields = try await Answer.jsonObject(request, .payload)
            let id = state.nextID()
            let now = SandboxJSON.string(SandboxIDs.iso8601())
            fields["id"] = .int(id)
            fields["createdAt"] = now
            fields["updatedAt"] = now
            fields["version"] = 1
            store.put(String(id), .object(fields))
            let collection = Answer.parameter(context, "collection")
            PayloadState.changed(collection, .object(fields), created: true, world: world)
            let doc = Self.populated(.object(fields), in: collection, query: Answer.query(request), state: state)
            return Answer.json(["doc": doc, "message": "Document successfully created."], status: 201)
        }
        routes.on(.patch, "/api/{collection}/{id}") { request, context throws(ServiceFailure) in
            let store = state.collection(Answer.parameter(context, "collection"))
            var fields = try await Answer.jsonObject(request, .payload)
            fields.removeValue(forKey: "id")
            fields.removeValue(forKey: "version")
            fields["updatedAt"] = .string(SandboxIDs.iso8601())
            guard let doc = store.update(Answer.parameter(context, "id"), { doc in
                let version = (doc["version"]?.int ?? 0) + 1
                doc = doc.merging(fields)
                doc["version"] = .int(version)
            }) else {
                throw .notFound(.payload, "")
            }
            let collection = Answer.parameter(context, "collection")
            PayloadState.changed(collection, doc, created: false, world: world)
            return Answer.json(["doc": Self.populated(doc, in: collection, query: Answer.query(request), state: state),
                                "message": "Updated successfully."])
        }
    }

    /// Relationship fields, by collection: field → the collection its ids name.
    static let relationships: [String: [String: String]] = [
        "media": ["product": "products-content"],
        "products-content": ["media": "media"],
    ]

    /// `doc` as Payload answers it at the request's `depth` (2 when not given, as Payload's
    /// default): from depth 1, relationship ids become the documents they name (one level here).
    /// A client that reads ids must ask for `depth=0`.
    static func populated(_ doc: SandboxJSON, in collection: String, query: [String: String], state: PayloadState) -> SandboxJSON {
        let depth = Int(query["depth"] ?? "") ?? 2
        guard depth > 0, let fields = relationships[collection], case .object(var object) = doc else { return doc }
        func resolve(_ value: SandboxJSON, in target: String) -> SandboxJSON {
            let id: String
            switch value {
            case .int(let number): id = String(number)
            case .string(let text): id = text
            default: return value
            }
            return state.collection(target)[id] ?? value
        }
        for (field, target) in fields {
            switch object[field] {
            case .array(let items)?: object[field] = .array(items.map { resolve($0, in: target) })
            case let value?: object[field] = resolve(value, in: target)
            case nil: break
            }
        }
        return .object(object)
    }

    /// `where[<field>][equals]=<value>`, `where[<field>][in]=<a>,<b>` (a dotted field reads nested
    /// values), `limit` (10), `page` (1).
    static func find(_ all: [SandboxJSON], query: [String: String]) throws(ServiceFailure) -> SandboxJSON {
        var matching = all
        for (key, value) in query where key.hasPrefix("where[") {
            let parts = key.dropFirst("where[".count).split(separator: "]", omittingEmptySubsequences: true)
                .map { $0.hasPrefix("[") ? String($0.dropFirst()) : String($0) }
            guard parts.count == 2, parts[1] == "equals" || parts[1] == "in" else {
                throw .badRequest(.payload, "The sandbox supports only where[field][equals] and [in] (got \(key)).")
            }
            if parts[1] == "in" {
                let wanted = Set(value.split(separator: ",").map(String.init))
                matching = matching.filter { Self.text(at: parts[0], in: $0).map(wanted.contains) ?? false }
            } else {
                matching = matching.filter { Self.text(at: parts[0], in: $0) == value }
            }
        }
        matching = Self.sorted(matching, by: query["sort"] ?? "-createdAt")
        let limit = max(1, Int(query["limit"] ?? "") ?? 10)
        let page = max(1, Int(query["page"] ?? "") ?? 1)
        let totalPages = max(1, (matching.count + limit - 1) / limit)
        let start = (page - 1) * limit
        let docs = start < matching.count ? Array(matching[start..<min(matching.count, start + limit)]) : []
        return ["docs": .array(docs), "totalDocs": .int(matching.count), "limit": .int(limit),
                "totalPages": .int(totalPages), "page": .int(page), "pagingCounter": .int(start + 1),
                "hasPrevPage": .bool(page > 1), "hasNextPage": .bool(page < totalPages),
                "prevPage": page > 1 ? .int(page - 1) : .null, "nextPage": page < totalPages ? .int(page + 1) : .null]
    }

    /// Documents in `sort`'s order, as Payload reads it: fields separated by commas, each
    /// ascending or, prefixed with `-`, descending; without `sort`, Payload's default, newest
    /// first (`-createdAt`). Ties go by id, in the first field's direction.
    static func sorted(_ docs: [SandboxJSON], by sort: String) -> [SandboxJSON] {
        let fields = sort.split(separator: ",").map { field in
            field.hasPrefix("-") ? (String(field.dropFirst()), true) : (String(field), false)
        }
        let tieDescending = fields.first?.1 ?? true
        func compare(_ a: SandboxJSON?, _ b: SandboxJSON?) -> Int {
            switch (a, b) {
            case (.int(let x)?, .int(let y)?): return x < y ? -1 : (x > y ? 1 : 0)
            default:
                let x = a.flatMap { text(of: $0) } ?? "", y = b.flatMap { text(of: $0) } ?? ""
                return x < y ? -1 : (x > y ? 1 : 0)
            }
        }
        return docs.sorted { a, b in
            for (field, descending) in fields {
                let order = compare(a[field], b[field])
                if order != 0 { return descending ? order > 0 : order < 0 }
            }
            let order = compare(a["id"], b["id"])
            return tieDescending ? order > 0 : order < 0
        }
    }

    private static func text(of value: SandboxJSON) -> String? {
        switch value {
        case .string(let text): return text
        case .int(let number): return String(number)
        case .decimal(let number): return number.description
        case .bool(let flag): return flag ? "true" : "false"
        default: return nil
        }
    }

    /// A field's value as query text (`42`, `true`, `abc`), following dots into nested objects.
    static func text(at path: String, in doc: SandboxJSON) -> String? {
        var value: SandboxJSON? = doc
        for part in path.split(separator: ".") { value = value?[String(part)] }
        switch value {
        case .string(let text)?: return text
        case .int(let number)?: return String(number)
        case .decimal(let number)?: return number.description
        case .bool(let flag)?: return flag ? "true" : "false"
        default: return nil
        }
    }
}
