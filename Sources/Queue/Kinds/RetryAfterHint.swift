/// An error that says how long trying again cannot help: an outside service's `Retry-After`
/// (a 429, a 503). A job failing with one retries no sooner than that, even when its kind's
/// backoff would try earlier, so its attempts are not spent on a service that said "not yet".
public protocol RetryAfterHint: Error {
    /// The shortest wait before a retry can help; nil when the error does not say.
    var retryAfter: Duration? { get }
}
