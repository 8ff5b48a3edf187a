/// One value an operator's monitoring reads at a scrape: a gauge's full name, its help text, its
/// labels and its value now. Parts of the platform the HTTP ingress knows nothing of (the
/// scheduler) describe what they have as these, and `GET /metrics` serves them.
public struct GaugeReading: Sendable, Equatable {
    public var name: String
    public var help: String
    public var labels: [Label]
    public var value: Double

    public struct Label: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(_ name: String, _ help: String, _ labels: [Label] = [], _ value: Double) {
        self.name = name
        self.help = help
        self.labels = labels
        self.value = value
    }
}
