import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Synchronization

/// Sends the sandbox's webhooks to the platform's ingress, like the real services do for
/// asynchronous outcomes: signed with the source's secret, in the background (an API answer
/// never waits for it), each tried up to 3 times with a 5 s timeout. Every delivery is recorded
/// for `GET /_sandbox/webhooks`; the control API turns sending off and on, and sends a recorded
/// event again (`redeliver`), as the real services do now and then: the same event twice, or late.
final class WebhookSender: Sendable {
    struct Delivery: Sendable {
        let source: SandboxService
        let eventID: String
        let type: String
        let body: Data
    }

    private struct Record {
        var delivery: Delivery
        /// Sent again by `redeliver`, not by the service's own work.
        var redelivery = false
        var state: String  // pending, delivered, failed, skipped
        var attempts = 0
        var lastStatus: Int?
        var error: String?
    }

    private struct State {
        var enabled: Bool
        /// By delivery number, so a reset never lets an old delivery update a new record.
        var records: [Int: Record] = [:]
        var next = 0
    }

    static let attempts = 3
    static let timeout: TimeAmount = .seconds(5)

    private let configuration: SandboxConfiguration
    private let http: HTTPClient
    private let logger: Logger
    private let state: Mutex<State>
    private let stream: AsyncStream<Int>
    private let continuation: AsyncStream<Int>.Continuation

    init(configuration: SandboxConfiguration, http: HTTPClient, logger: Logger) {
        self.configuration = configuration
        self.http = http
        self.logger = logger
        self.state = Mutex(State(enabled: configuration.sendWebhooks))
        (stream, continuation) = AsyncStream.makeStream(of: Int.self)
    }

    var enabled: Bool {
        get { state.withLock { $0.enabled } }
        set { state.withLock { $0.enabled = newValue } }
    }

    /// Queues an event for delivery and returns at once. Skipped (and recorded so) when sending
    /// is off or the source has no secret.
    func send(_ source: SandboxService, eventID: String, type: String, body: SandboxJSON) {
        let delivery = Delivery(source: source, eventID: eventID, type: type, body: body.data)
        let index = state.withLock { record(delivery, redelivery: false, in: &$0) }
        if let index { continuation.yield(index) }
    }

    /// Sends the event recorded last under `eventID` (of `source`, when given) again: the same id and
    /// body, signed anew, as a service's duplicate or late delivery. Its record's state (`pending`,
    /// or `skipped` when sending is off), or nil when no such event was recorded.
    func redeliver(eventID: String, source: SandboxService?) -> String? {
        let queued = state.withLock { state -> (index: Int?, state: String)? in
            let sent = state.records.filter { $0.value.delivery.eventID == eventID && (source == nil || $0.value.delivery.source == source) }
            guard let last = sent.max(by: { $0.key < $1.key })?.value.delivery else { return nil }
            let index = record(last, redelivery: true, in: &state)
            return (index, state.records[state.next]?.state ?? "pending")
        }
        if let index = queued?.index { continuation.yield(index) }
        return queued?.state
    }

    /// Records a delivery; its number when it is to be sent, nil when skipped.
    private func record(_ delivery: Delivery, redelivery: Bool, in state: inout State) -> Int? {
        let source = delivery.source.rawValue
        var record = Record(delivery: delivery, redelivery: redelivery, state: "pending")
        if !state.enabled {
            record.state = "skipped"
            record.error = "webhooks are turned off"
        } else if configuration.webhookSecrets[source] == nil {
            record.state = "skipped"
            record.error = "no secret for \(source) (CITYOS_WEBHOOK_SECRET_\(source.uppercased()))"
        }
        state.next += 1
        state.records[state.next] = record
        return record.state == "pending" ? state.next : nil
    }

    /// Delivers queued events until `stop()`.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await index in stream {
                group.addTask { await self.deliver(index) }
            }
            group.cancelAll()
        }
    }

    func stop() { continuation.finish() }

    private func deliver(_ index: Int) async {
        guard let delivery = state.withLock({ $0.records[index]?.delivery }),
              let secret = configuration.webhookSecrets[delivery.source.rawValue] else { return }
        let url = "\(configuration.webhooksURL)/\(delivery.source.rawValue)"
        for attempt in 1...Self.attempts {
            if Task.isCancelled { return }
            let signature = WebhookSigner.header(for: delivery.source, body: delivery.body, secret: secret)
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: signature.name, value: signature.value)
            request.body = .bytes(ByteBuffer(bytes: delivery.body))
            var status: Int?
            var failure: String?
            do {
                let response = try await http.execute(request, timeout: Self.timeout)
                _ = try? await response.body.collect(upTo: 1 << 20)
                status = Int(response.status.code)
            } catch {
                failure = "\(error)"
            }
            let delivered = status.map { (200..<300).contains($0) } ?? false
            update(index) { record in
                record.attempts = attempt
                record.lastStatus = status
                record.error = failure
                record.state = delivered ? "delivered" : (attempt == Self.attempts ? "failed" : "pending")
            }
            if delivered { return }
            logger.info("webhook delivery failed", metadata: [
                "source": "\(delivery.source.rawValue)", "type": "\(delivery.type)", "attempt": "\(attempt)",
                "status": "\(status.map(String.init) ?? "-")", "error": "\(failure ?? "-")"])
            if attempt < Self.attempts { try? await Task.sleep(for: .milliseconds(250 * attempt * attempt)) }
        }
    }

    private func update(_ index: Int, _ change: (inout Record) -> Void) {
        state.withLock { state in
            if var record = state.records[index] {
                change(&record)
                state.records[index] = record
            }
        }
    }

    /// `{"enabled", "pending", "deliveries": [{source, id, type, state, attempts, last_status, error, redelivery}]}`.
    var json: SandboxJSON {
        state.withLock { state in
            let records = state.records.sorted { $0.key < $1.key }.map(\.value)
            let deliveries: [SandboxJSON] = records.map { record in
                ["source": .string(record.delivery.source.rawValue), "id": .string(record.delivery.eventID),
                 "type": .string(record.delivery.type), "state": .string(record.state),
                 "attempts": .int(record.attempts), "last_status": record.lastStatus.map(SandboxJSON.int) ?? .null,
                 "error": record.error.json, "redelivery": .bool(record.redelivery)]
            }
            return ["enabled": .bool(state.enabled),
                    "pending": .int(records.filter { $0.state == "pending" }.count),
                    "deliveries": .array(deliveries)]
        }
    }

    /// Forgets the record of deliveries and restores the configured on/off.
    func reset() {
        state.withLock { state in
            state.records = [:]
            state.enabled = configuration.sendWebhooks
        }
    }
}
