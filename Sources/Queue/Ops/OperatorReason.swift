/// Why an operator paused a queue or cancelled a job: free text, shown in the status and kept in
/// the job's history; empty means none.
public enum OperatorReason {
    /// The longest reason kept, in UTF-8 bytes.
    public static let maxBytes = 200

    /// A reason longer than `maxBytes`.
    public struct TooLong: Error, CustomStringConvertible, Equatable {
        public let bytes: Int
        public var description: String { "the reason is \(bytes) bytes long; at most \(OperatorReason.maxBytes) are kept" }
    }

    /// `reason`, or nil when it is empty.
    /// - Throws: `TooLong`.
    public static func checked(_ reason: String?) throws(TooLong) -> String? {
        guard let reason, !reason.isEmpty else { return nil }
        guard reason.utf8.count <= maxBytes else { throw TooLong(bytes: reason.utf8.count) }
        return reason
    }
}
