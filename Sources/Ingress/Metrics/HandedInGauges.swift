import Queue

/// Gauges a process hands the ingress to serve at `GET /metrics`, read at each scrape (the
/// schedules': the ingress knows no scheduler). When `read` throws, its gauges are left out and
/// `upGauge` is 0.
public struct HandedInGauges: Sendable {
    /// Their group among the gauges read at a scrape (the schedules'): replaced at each reading,
    /// dropped when a reading fails.
    public var group: String
    /// The 0/1 gauge that says whether the last scrape could read them, and its help text.
    public var upGauge: String
    public var upHelp: String
    /// Reads them; called at each scrape while Redis can be read. Their names, labels and help
    /// texts must not be another gauge's (the registry stops the process on a clash).
    public var read: @Sendable () async throws -> [GaugeReading]

    public init(group: String, upGauge: String, upHelp: String, read: @escaping @Sendable () async throws -> [GaugeReading]) {
        self.group = group
        self.upGauge = upGauge
        self.upHelp = upHelp
        self.read = read
    }
}
