import Logging
import Synchronization

/// Every line a logger wrote, for a test to read: `Logger(label: "x") { _ in CapturingHandler(lines: log) }`.
public final class CapturedLog: Sendable {
    public struct Line: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }

    private let lines = Mutex<[Line]>([])

    public init() {}

    public func append(_ line: Line) { lines.withLock { $0.append(line) } }
    public var all: [Line] { lines.withLock { $0 } }
}

/// A log handler that writes into a `CapturedLog`.
public struct CapturingHandler: LogHandler {
    public let lines: CapturedLog
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info

    public init(lines: CapturedLog) { self.lines = lines }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        lines.append(.init(level: event.level, message: event.message.description, metadata: merged.mapValues { "\($0)" }))
    }
}
