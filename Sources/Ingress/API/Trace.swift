import HTTPTypes
import Hummingbird
import Queue

/// W3C trace context: the caller's `traceparent` if it sent a valid one, else a new one, so
/// every request log line and every job it creates carry a trace id (`TraceParent`).
struct Trace: Sendable {
    /// `00-<trace id>-<parent id>-<flags>`, stored in the job's envelope.
    let traceparent: String

    /// The 32 hex digits that name the trace (`traceparent` is always `00-<32>-<16>-<2>`: a
    /// given one was checked by `isValid`, a made one is built so).
    var traceID: Substring { TraceParent.traceID(of: traceparent) }

    init(headers: HTTPFields) {
        self.init(traceparent: headers[.traceparent])
    }

    /// The given `traceparent` header's value if it is valid, else a new one.
    init(traceparent given: String?) {
        if let given, TraceParent.isValid(given) {
            traceparent = given
        } else {
            traceparent = TraceParent.make()
        }
    }
}
