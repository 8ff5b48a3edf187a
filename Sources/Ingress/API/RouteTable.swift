import Hummingbird
import Synchronization

/// The methods the server answers on each path template, so that a request for a path it knows,
/// with a method it does not take there, is answered 405 with `Allow` (RFC 9110, 15.5.6)
/// instead of a 404 that says the endpoint does not exist. Filled once, from the router's
/// routes, before the server takes requests; read only on the way to a 404.
final class RouteTable: Sendable {
    private struct Route {
        let method: String
        /// The path's segments; `nil` stands for a `{parameter}`.
        let segments: [Substring?]
    }

    private let routes = Mutex<[Route]>([])

    /// Takes the router's routes (`Router.routes`), replacing any taken before.
    func fill<Context>(from described: [Router<Context>.RouteDescription]) {
        let parsed = described.map { route in
            Route(method: route.method.rawValue,
                  segments: Self.segments(of: Substring("\(route.path)")).map { segment in
                      segment.first == "{" || segment.first == ":" ? nil : segment
                  })
        }
        routes.withLock { $0 = parsed }
    }

    /// The methods the router takes on `path` (a request's path, without its query), sorted;
    /// empty when no route matches it. Matches as the router does: segment by segment, a
    /// literal segment before a `{parameter}`, never going back (so `/dead/retry-all` is the
    /// `retry-all` route only, not also `/dead/{id}`).
    func methods(for path: Substring) -> [String] {
        let wanted = Self.segments(of: path)
        var candidates = routes.withLock { $0 }
        for (depth, segment) in wanted.enumerated() {
            let deeper = candidates.filter { $0.segments.count > depth }
            let literal = deeper.filter { $0.segments[depth] == segment }
            candidates = literal.isEmpty ? deeper.filter { $0.segments[depth] == nil } : literal
        }
        var methods = Set(candidates.filter { $0.segments.count == wanted.count }.map(\.method))
        if methods.contains("GET") { methods.insert("HEAD") }   // the router answers HEAD for every GET
        return methods.sorted()
    }

    private static func segments(of path: Substring) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }
}
