import Connectors
import Queue

/// An outside service's `Retry-After` (kept on the `ConnectorError` of a 429 or a 503 whose wait
/// the call could not take) holds the job's retry back that long: the queue engine reads it
/// through `RetryAfterHint`.
extension ConnectorError: RetryAfterHint {}
