import Hummingbird

/// What a request carries through the ingress's middleware and handlers.
public struct IngressContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request's trace, set by `RequestLogMiddleware` before any handler runs.
    var trace: Trace?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// Bodies are read by the handlers themselves, each with its own limit.
    public var maxUploadSize: Int { IngressConfiguration.maxBodyBytes }
}
