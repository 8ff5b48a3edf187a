import Foundation
import Ingress
import Logging
import Queue
import Synchronization

/// One JSON object per line on standard error: time, level, label, message and metadata, keys
/// sorted. Metadata keys that look like secrets are masked, so a careless call cannot leak one.
/// Built by hand and handed to `LogOutput`, which writes lines in batches: the ingress logs every
/// request, so a line must cost microseconds (formatters and JSONSerialization cost tens).
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
    /// Runs for every key of every line, so it compares bytes in place rather than lower-casing a copy.
    static func isSecret(_ key: String) -> Bool {
        var key = key
        return key.withUTF8 { bytes in
            secretWordBytes.contains { word in
                guard bytes.count >= word.count else { return false }
                return (0...(bytes.count - word.count)).contains { start in
                    for j in 0..<word.count {
                        let byte = bytes[start + j]
                        if (byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte) != word[j] { return false }
                    }
                    return true
                }
            }
        }
    }

    /// The keys every line has, in the order they sort among the metadata keys.
    private enum Fixed: CaseIterable {
        case level, logger, msg, ts
        var key: String {
            switch self {
            case .level: return "level"
            case .logger: return "logger"
            case .msg: return "msg"
            case .ts: return "ts"
            }
        }
    }

    func log(event: LogEvent) {
        // Every key sorted, the four fixed ones (level, logger, msg, ts) among them; the handler's
        // own metadata is usually empty, so the event's is used as it is. The metadata is sorted
        // once as (key, value) pairs and merged with the fixed keys, so no key is looked up again.
        let merged: Logger.Metadata
        if let extra = event.metadata, !extra.isEmpty {
            merged = metadata.isEmpty ? extra : metadata.merging(extra) { _, new in new }
        } else {
            merged = metadata
        }
        let entries = merged.sorted { $0.key < $1.key }
        var line: [UInt8] = []
        line.reserveCapacity(320)
        line.append(UInt8(ascii: "{"))
        var fixed = Fixed.allCases[...]
        var first = true
        func separate() {
            if !first { line.append(UInt8(ascii: ",")) }
            first = false
        }
        func appendFixed(_ field: Fixed) {
            separate()
            Self.appendString(field.key, to: &line)
            line.append(UInt8(ascii: ":"))
            switch field {
            case .ts: Self.appendTimestamp(to: &line)
            case .level: Self.appendString(event.level.rawValue, to: &line)
            case .logger: Self.appendString(label, to: &line)
            case .msg: Self.appendString(event.message.description, to: &line)
            }
        }
        for (key, value) in entries {
            while let next = fixed.first, next.key <= key {
                appendFixed(next)
                fixed = fixed.dropFirst()
            }
            if Fixed.allCases.contains(where: { $0.key == key }) { continue }   // the fixed fields win
            separate()
            Self.appendString(key, to: &line)
            line.append(UInt8(ascii: ":"))
            if Self.isSecret(key) {
                Self.appendString("****", to: &line)
            } else if case .string(let text) = value {
                Self.appendString(text, to: &line)
            } else {
                Self.appendString(value.description, to: &line)
            }
        }
        for field in fixed { appendFixed(field) }
        line.append(contentsOf: [UInt8(ascii: "}"), 0x0a])
        LogOutput.standardError.append(line, urgent: event.level >= .warning)
    }

    /// Writes a request's line (`RequestLog.Writer`) exactly as `log(event:)` writes an `info`
    /// "request" line with `line.metadata` for a logger without metadata of its own, but with
    /// the keys' order known in advance: no dictionary to build, sort or look up, for a line the
    /// ingress writes for every request. `cityos serve`'s request lines are checked against
    /// that format by `RequestLogLineTests`.
    static func writeRequestLine(_ line: RequestLogLine, label: String) {
        var out: [UInt8] = []
        out.reserveCapacity(360)
        out.append(contentsOf: #"{"duration_ms":"#.utf8)
        appendString(RequestLogLine.milliseconds(line.elapsed), to: &out)
        if let jobID = line.jobID {
            out.append(contentsOf: #","job_id":"#.utf8)
            appendString(jobID, to: &out)
        }
        out.append(contentsOf: #","level":"info","logger":"#.utf8)
        appendString(label, to: &out)
        out.append(contentsOf: #","method":"#.utf8)
        appendString(line.method, to: &out)
        out.append(contentsOf: #","msg":"request","path":"#.utf8)
        appendString(line.path, to: &out)
        out.append(contentsOf: #","route":"#.utf8)
        appendString(line.route, to: &out)
        out.append(contentsOf: #","status":"#.utf8)
        appendString(RequestLogLine.statusText(line.status), to: &out)
        out.append(contentsOf: #","trace_id":"#.utf8)
        JSONString.append(line.traceID, to: &out)
        out.append(contentsOf: #","ts":"#.utf8)
        appendTimestamp(to: &out)
        out.append(contentsOf: [UInt8(ascii: "}"), 0x0a])
        LogOutput.standardError.append(out, urgent: false)
    }

    /// The text of the current second, `"2026-11-25T11:25:26.`, made once per second.
    private static let secondPrefix = Mutex<(second: Int, text: [UInt8])>((-1, []))

    /// Appends `"2026-11-25T11:25:26.570Z"` (UTC, milliseconds, quoted).
    static func appendTimestamp(to out: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let second = Int(now.tv_sec)
        let prefix = secondPrefix.withLock { cached -> [UInt8] in
            if cached.second != second {
                var parts = tm()
                var seconds = now.tv_sec
                gmtime_r(&seconds, &parts)
                var text: [UInt8] = [UInt8(ascii: "\"")]
                func digits(_ value: Int32, _ width: Int) {
                    var divisor: Int32 = 1
                    for _ in 1..<width { divisor *= 10 }
                    var rest = value
                    while divisor > 0 {
                        text.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                        rest %= divisor
                        divisor /= 10
                    }
                }
                digits(parts.tm_year + 1900, 4); text.append(UInt8(ascii: "-"))
                digits(parts.tm_mon + 1, 2); text.append(UInt8(ascii: "-"))
                digits(parts.tm_mday, 2); text.append(UInt8(ascii: "T"))
                digits(parts.tm_hour, 2); text.append(UInt8(ascii: ":"))
                digits(parts.tm_min, 2); text.append(UInt8(ascii: ":"))
                digits(parts.tm_sec, 2); text.append(UInt8(ascii: "."))
                cached = (second, text)
            }
            return cached.text
        }
        out.append(contentsOf: prefix)
        let millis = Int(now.tv_nsec / 1_000_000)
        out.append(UInt8(ascii: "0") + UInt8(millis / 100))
        out.append(UInt8(ascii: "0") + UInt8(millis / 10 % 10))
        out.append(UInt8(ascii: "0") + UInt8(millis % 10))
        out.append(contentsOf: [UInt8(ascii: "Z"), UInt8(ascii: "\"")])
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
