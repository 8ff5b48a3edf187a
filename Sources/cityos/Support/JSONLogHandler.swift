import Foundation
import Logging
import Queue
import Synchronization

/// One JSON object per line on standard error: time, level, label, message and metadata, keys
/// sorted. Metadata keys that look like secrets are masked, so a careless call cannot leak one.
/// Built by hand and written with one `write(2)` per line: the ingress logs every request, so a
/// line must cost microseconds (formatters and JSONSerialization cost tens).
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
    private static let secretWordBytes = secretWords.map { Array($0.utf8) }

    /// Whether a metadata key names a secret: it contains one of `secretWords`, ignoring case.
    static func isSecret(_ key: String) -> Bool {
        let lower = key.utf8.map { (0x41...0x5a).contains($0) ? $0 | 0x20 : $0 }
        return secretWordBytes.contains { word in
            guard lower.count >= word.count else { return false }
            return (0...(lower.count - word.count)).contains { start in
                lower[start..<(start + word.count)].elementsEqual(word)
            }
        }
    }

    func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("ts", Self.timestamp()),
            ("level", event.level.rawValue),
            ("logger", label),
            ("msg", event.message.description),
        ]
        let merged = (event.metadata?.isEmpty ?? true) ? metadata : metadata.merging(event.metadata ?? [:]) { _, new in new }
        for (key, value) in merged where key != "ts" && key != "level" && key != "logger" && key != "msg" {
            fields.append((key, Self.isSecret(key) ? "****" : value.description))
        }
        fields.sort { $0.0 < $1.0 }
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line.append(UInt8(ascii: "{"))
        for (index, (key, value)) in fields.enumerated() {
            if index > 0 { line.append(UInt8(ascii: ",")) }
            Self.appendString(key, to: &line)
            line.append(UInt8(ascii: ":"))
            Self.appendString(value, to: &line)
        }
        line.append(contentsOf: [UInt8(ascii: "}"), 0x0a])
        line.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 { offset += written } else if written < 0 && errno == EINTR { continue } else { return }
            }
        }
    }

    /// `2026-11-25T11:25:26.570Z` (UTC, milliseconds).
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }

    /// Appends `value` as a JSON string (the platform's one escaping rule; `/` is left as is).
    static func appendString(_ value: String, to out: inout [UInt8]) {
        JSONString.append(value, to: &out)
    }
}

enum LoggingBootstrap {
    private static let done = Mutex(false)

    static func once() {
        let first = done.withLock { d -> Bool in defer { d = true }; return !d }
        if first { LoggingSystem.bootstrap { JSONLogHandler(label: $0) } }
    }
}
