/// One value an operator's monitoring reads at a scrape: a gauge's full name, its help text, its
/// labels and its value now. Parts of the platform the HTTP ingress knows nothing of (the
/// scheduler) describe what they have as these, and `GET /metrics` serves them. Here, beside the
/// queue status and the checks, because both the ingress and the scheduler build on the queue.
public struct GaugeReading: Sendable, Equatable {
    /// The full name, `cityos_…`.
    public var name: String
    /// The `# HELP` text: the same for every reading of one name.
    public var help: String
    /// The labels, in order: the same names for every reading of one name.
    public var labels: [Label]
    public var value: Double

    /// One label, name and value.
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
