import Synchronization

/// What the Payload sandbox keeps: documents by collection, with numeric ids (as on PostgreSQL).
final class PayloadState: Sendable {
    private struct State {
        var collections: [String: RecordStore] = [:]
        var lastID = 0
    }

    private let state = Mutex(State())

    func collection(_ slug: String) -> RecordStore {
        state.withLock { state in
            if let store = state.collections[slug] { return store }
            let store = RecordStore()
            state.collections[slug] = store
            return store
        }
    }

    func nextID() -> Int {
        state.withLock { state in
            state.lastID += 1
            return state.lastID
        }
    }

    func reset() { state.withLock { $0 = State() } }
}
