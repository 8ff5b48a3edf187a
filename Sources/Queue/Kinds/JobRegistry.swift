import Foundation

/// Maps kind names to handlers, once, at start-up. Decoding an envelope's arguments into the
/// handler's own type happens here, so a mismatch is a clear failure, never a crash.
public struct JobRegistry: Sendable {
    private var handlers: [String: AnyJobHandler] = [:]

    public init() {}

    /// Registers a handler; a second handler for the same kind replaces the first.
    public mutating func register<H: JobHandler>(_ handler: H) {
        handlers[H.kind] = AnyJobHandler(handler)
    }

    public func handler(for kind: String) -> AnyJobHandler? { handlers[kind] }

    public var kinds: [String] { handlers.keys.sorted() }

    /// The options of `kind`, or `nil` if it is not registered.
    public func options(for kind: String) -> JobOptions? { handlers[kind]?.options }

    /// Checks that `args` decode into the arguments type of `kind` (for the ingress and CLI).
    public func validate(kind: String, args: JSONValue) throws(JobFailure) {
        guard let handler = handlers[kind] else { throw .unknownKind(kind) }
        try handler.validate(args)
    }
}

/// A handler with its arguments type erased: decodes, then runs.
public struct AnyJobHandler: Sendable {
    public let kind: String
    public let options: JobOptions
    private let runner: @Sendable ([UInt8], JobContext) async throws -> Void
    private let validator: @Sendable (JSONValue) throws(JobFailure) -> Void

    init<H: JobHandler>(_ handler: H) {
        kind = H.kind
        options = H.options
        runner = { payload, context in
            let arguments = try Self.decodeArguments(H.Arguments.self, from: payload)
            try await handler.run(arguments, context: context)
        }
        validator = { (args: JSONValue) throws(JobFailure) in
            do {
                let data = try JSONEncoder().encode(ArgumentsOnly(args: args))
                _ = try JSONDecoder().decode(ArgumentsOnly<H.Arguments>.self, from: data)
            } catch {
                throw .badArguments("for \(H.kind): \(JobEnvelope.describe(error))")
            }
        }
    }

    /// Decodes the arguments from the envelope's bytes and runs the handler.
    public func run(payload: [UInt8], context: JobContext) async throws {
        try await runner(payload, context)
    }

    public func validate(_ args: JSONValue) throws(JobFailure) { try validator(args) }

    static func decodeArguments<A: Codable>(_ type: A.Type, from payload: [UInt8]) throws(JobFailure) -> A {
        do {
            return try JSONDecoder().decode(ArgumentsOnly<A>.self, from: Data(payload)).args
        } catch {
            throw .badArguments(JobEnvelope.describe(error))
        }
    }
}

/// The `args` member of an envelope, decoded straight into a handler's type.
struct ArgumentsOnly<A: Codable>: Codable {
    var args: A
}
