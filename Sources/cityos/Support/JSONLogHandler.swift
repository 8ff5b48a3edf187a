import Foundation
import Logging
import Synchronization

/// One JSON object per line on standard error: time, level, label, message and metadata.
/// Metadata keys that look like secrets are masked, so a careless call cannot leak one.
struct JSONLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    let label: String

    init(label: String) {
        self.label = label
        if let level = ProcessInfo.processInfo.environment["CITYOS_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) {
            logLevel = level
        }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static let secretWords = ["secret", "token", "password", "signature", "authorization", "api_key"]

    func log(event: LogEvent) {
        var object: [String: String] = [
            "ts": ISO8601DateFormatter.shared.string(from: Date()),
            "level": event.level.rawValue,
            "logger": label,
            "msg": event.message.description,
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for (key, value) in merged {
            let lower = key.lowercased()
            object[key] = Self.secretWords.contains(where: lower.contains) ? "****" : "\(value)"
        }
        guard var data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        data.append(0x0a)
        FileHandle.standardError.write(data)
    }
}

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let shared: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
}

enum LoggingBootstrap {
    private static let done = Mutex(false)

    static func once() {
        let first = done.withLock { d -> Bool in defer { d = true }; return !d }
        if first { LoggingSystem.bootstrap { JSONLogHandler(label: $0) } }
    }
}
