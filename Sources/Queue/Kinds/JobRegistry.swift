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

    /// The queue a job of `kind` goes to: `override` if given, else the kind's, else `default`.
    public func queue(for kind: String, override: String? = nil) -> String {
        override ?? options(for: kind)?.queue ?? JobOptions().queue
    }

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
    private let runner: @Sendable ([UInt8], Range<Int>, JobContext) async throws -> Void
    private let validator: @Sendable (JSONValue) throws(JobFailure) -> Void

    init<H: JobHandler>(_ handler: H) {
        kind = H.kind
        options = H.options
        runner = { payload, range, context in
            let arguments = try Self.decodeArguments(H.Arguments.self, from: payload[range])
            try await handler.run(arguments, context: context)
        }
        validator = { (args: JSONValue) throws(JobFailure) in
            var text = JSONText()
            text.value(args)
            do {
                _ = try Self.decoder.decode(H.Arguments.self, from: Data(text.bytes))
            } catch {
                throw .badArguments("for \(H.kind): \(JobEnvelope.describe(error, under: "args"))")
            }
        }
    }

    /// Decodes the arguments (the bytes of `payload` in `arguments`) and runs the handler.
    public func run(payload: [UInt8], arguments: Range<Int>, context: JobContext) async throws {
        try await runner(payload, arguments, context)
    }

    /// Runs the handler with arguments given as a JSON value (tests, tools).
    public func run(arguments: JSONValue, context: JobContext) async throws {
        var text = JSONText()
        text.value(arguments)
        try await runner(text.bytes, 0..<text.bytes.count, context)
    }

    public func validate(_ args: JSONValue) throws(JobFailure) { try validator(args) }

    /// One decoder for every job: creating one per decode costs more than the decode of a
    /// small argument object. Decoding with a shared `JSONDecoder` is thread-safe.
    static let decoder = JSONDecoder()

    static func decodeArguments<A: Codable>(_ type: A.Type, from bytes: ArraySlice<UInt8>) throws(JobFailure) -> A {
        do {
            return try decoder.decode(A.self, from: Data(bytes))
        } catch {
            throw .badArguments(JobEnvelope.describe(error, under: "args"))
        }
    }
}
