import Synchronization

/// One kind of entity a service keeps (PaymentIntents, products, invoices…), by id, in the order
/// they were created.
final class RecordStore: Sendable {
    private struct State {
        var order: [String] = []
        var items: [String: SandboxJSON] = [:]
    }

    private let state = Mutex(State())

    subscript(id: String) -> SandboxJSON? { state.withLock { $0.items[id] } }

    func put(_ id: String, _ record: SandboxJSON) {
        state.withLock { state in
            if state.items.updateValue(record, forKey: id) == nil { state.order.append(id) }
        }
    }

    /// Changes a record in place; `nil` when there is none with that id.
    func update(_ id: String, _ change: (inout SandboxJSON) -> Void) -> SandboxJSON? {
        state.withLock { state in
            guard var record = state.items[id] else { return nil }
            change(&record)
            state.items[id] = record
            return record
        }
    }

    /// Removes a record; `nil` when there is none with that id.
    @discardableResult
    func remove(_ id: String) -> SandboxJSON? {
        state.withLock { state in
            guard let record = state.items.removeValue(forKey: id) else { return nil }
            state.order.removeAll { $0 == id }
            return record
        }
    }

    /// Every record, oldest first.
    var all: [SandboxJSON] { state.withLock { state in state.order.compactMap { state.items[$0] } } }

    var count: Int { state.withLock { $0.order.count } }

    func reset() { state.withLock { $0 = State() } }
}
