import Connectors

/// A field the two sides disagreed on where the side that does not own it had changed it: the
/// owner's value won. Recorded in `sync_conflicts`.
public struct SyncConflict: Sendable, Equatable {
    public var field: String
    public var commerceValue: JSON
    public var contentValue: JSON
    public var winner: SyncSide
    public var reason: String
}

/// What to do about one product, decided from both sides' values and the values they last
/// agreed on (`synced`). Pure: no I/O.
///
/// For each field, with the owner's value `o`, the other side's `x` and the last agreed `s`:
/// - `o == x`: nothing to write (this is how our own echoes stop: after our write both sides agree);
/// - `x == s`: only the owner changed: copy `o` to the other side — a plain update, no conflict;
/// - otherwise the non-owner changed it (alone, or both did, or there is no agreement yet): the
///   owner wins, `o` is copied over, and the conflict is recorded with both values and why.
public struct SyncPlan: Sendable, Equatable {
    /// Fields to write to Payload (commerce-owned values) and to Medusa (content-owned values).
    public var toContent: [String: JSON] = [:]
    public var toCommerce: [String: JSON] = [:]
    public var conflicts: [SyncConflict] = []
    /// What both sides hold once the writes are done: the new `synced`.
    public var agreed: [String: JSON] = [:]

    public var writesNothing: Bool { toContent.isEmpty && toCommerce.isEmpty }

    public static func decide(commerce: [String: JSON], content: [String: JSON], synced: [String: JSON]?) -> SyncPlan {
        var plan = SyncPlan()
        for name in ProductFields.names {
            guard let owner = ProductFields.owners[name] else { continue }
            let commerceValue = commerce[name] ?? .null
            let contentValue = content[name] ?? .null
            let (ownerValue, otherValue) = owner == .commerce ? (commerceValue, contentValue) : (contentValue, commerceValue)
            plan.agreed[name] = ownerValue
            if ownerValue == otherValue { continue }
            if owner == .commerce { plan.toContent[name] = ownerValue } else { plan.toCommerce[name] = ownerValue }
            let last = synced?[name]
            if let last, otherValue == last { continue }
            let reason: String
            if last == nil {
                reason = "the sides disagreed with no earlier agreement; \(owner.rawValue) owns \(name)"
            } else if ownerValue != last {
                reason = "changed on both sides; \(owner.rawValue) owns \(name)"
            } else {
                reason = "changed on the \(owner.other.rawValue) side, which does not own \(name); \(owner.rawValue)'s value restored"
            }
            plan.conflicts.append(SyncConflict(field: name, commerceValue: commerceValue, contentValue: contentValue,
                                               winner: owner, reason: reason))
        }
        return plan
    }
}
