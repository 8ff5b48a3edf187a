import Foundation
import Hummingbird

/// The control API a test drives the sandbox with (docs/sandbox.md), under `/_sandbox`:
/// - `POST /_sandbox/script`: script outcomes (`fail`, `fail_behind`, `rate_limit`, `hang`, `garble`, `decline`, …); `GET` lists them
/// - `POST /_sandbox/stripe/balance`: the platform's available balance in a currency (`{"currency": "usd",
///   "available": 500}`; `null`: no limit, as at start): a transfer above it is refused `balance_insufficient`,
/// - `POST /_sandbox/stripe/idempotency/expire`: forget Stripe's idempotency keys (`{}`: all; `{"key": …}`: one),
///   keeping what they made, as Stripe does after 24 hours
/// - `GET /_sandbox/calls`: calls per endpoint, with arrival times
/// - `GET /_sandbox/state`: the ids each service holds (PaymentIntents, transfers, products, …)
/// - `POST /_sandbox/reset`: forget everything (data, scripts, counts, keys, deliveries)
/// - `GET|POST /_sandbox/webhooks`: deliveries so far; `{"enabled": false}` turns sending off
/// - `POST /_sandbox/webhooks/redeliver`: `{"id": "evt_…"}` sends a recorded event again (a duplicate,
///   or a late delivery)
/// - `POST /_sandbox/medusa/orders`: place an order (sends `order.placed`)
/// - `POST /_sandbox/medusa/filters`: `{"tenant_id": false}` makes product lists ignore `tenant_id`
///   (a Medusa without the platform's plugin); `true` honours it again
/// - `POST /_sandbox/medusa/metadata`: `{"merge": false}` makes product updates replace the product's
///   `metadata` with the one sent instead of merging it; `true` merges again
/// - `POST /_sandbox/fleetbase/orders/{id}/status`: set any delivery status (sends its event)
/// - `POST /_sandbox/stripe/payment_intents/{id}/settle`: a `processing` PaymentIntent succeeds or fails
///   (sends its event)
/// - `POST /_sandbox/stripe/accounts/{id}`: a connected account's `payouts_enabled` and/or its
///   `transfers` capability, as Stripe's onboarding or review would set them (creates the account
///   if needed; sends `account.updated`)
/// - `GET /_sandbox/health`
/// Errors here are `{"error": {"code", "message"}}`.
struct ControlRoutes {
    let router: Router<BasicRequestContext>
    let world: SandboxWorld

    func register() {
        let world = world
        router.get("/_sandbox/health") { _, _ in Answer.json(["ok": true]) }
        router.get("/_sandbox/calls") { _, _ in Answer.json(world.calls.json) }
        router.get("/_sandbox/script") { _, _ in Answer.json(world.scripting.json) }
        router.get("/_sandbox/state") { _, _ in Answer.json(world.stateJSON) }
        router.post("/_sandbox/script") { request, _ in
            await Self.handle { () throws(ControlError) in try Self.script(try await Self.object(request), world: world) }
        }
        router.post("/_sandbox/reset") { _, _ in
            world.reset()
            return Answer.json(["reset": true])
        }
        router.get("/_sandbox/webhooks") { _, _ in Answer.json(world.webhooks.json) }
        router.post("/_sandbox/webhooks") { request, _ in
            await Self.handle { () throws(ControlError) in
                guard case .bool(let enabled)? = try await Self.object(request)["enabled"] else {
                    throw ControlError("bad_request", "send {\"enabled\": true|false}")
                }
                world.webhooks.enabled = enabled
                return ["enabled": .bool(enabled)]
            }
        }
        router.post("/_sandbox/webhooks/redeliver") { request, _ in
            await Self.handle { () throws(ControlError) in
                let body = try await Self.object(request)
                guard let id = body["id"]?.string, !id.isEmpty else {
                    throw ControlError("bad_request", "send {\"id\": \"<event id>\"} (and \"source\" to choose between services)")
                }
                var source: SandboxService?
                if let named = body["source"] {
                    guard let known = named.string.flatMap(SandboxService.init(rawValue:)) else {
                        throw ControlError("bad_request", "source must be one of: "
                            + SandboxService.allCases.map(\.rawValue).joined(separator: ", "))
                    }
                    source = known
                }
                guard let state = world.webhooks.redeliver(eventID: id, source: source) else {
                    throw ControlError("not_found", "no webhook with event id \(id) was sent", status: 404)
                }
                return ["redelivered": .string(id), "state": .string(state)]
            }
        }
        router.post("/_sandbox/medusa/filters") { request, _ in
            await Self.handle { () throws(ControlError) in
                guard case .bool(let honoured)? = try await Self.object(request)["tenant_id"] else {
                    throw ControlError("bad_request", "send {\"tenant_id\": false} or {\"tenant_id\": true}")
                }
                world.medusa.filtersByTenant.store(honoured, ordering: .relaxed)
                return ["tenant_id": .bool(honoured)]
            }
        }
        router.post("/_sandbox/medusa/metadata") { request, _ in
            await Self.handle { () throws(ControlError) in
                guard case .bool(let merges)? = try await Self.object(request)["merge"] else {
                    throw ControlError("bad_request", "send {\"merge\": false} or {\"merge\": true}")
                }
                world.medusa.mergesMetadata.store(merges, ordering: .relaxed)
                return ["merge": .bool(merges)]
            }
        }
        router.post("/_sandbox/medusa/orders") { request, _ in
            await Self.handle { () throws(ControlError) in
                let order = try MedusaOrders.place(try await Self.object(request))
                world.medusa.orders.put(order["id"]?.string ?? "", order)
                MedusaState.send("order.placed", order, world: world)
                return ["order": order]
            }
        }
        router.post("/_sandbox/stripe/accounts/{id}") { request, context in
            await Self.handle { () throws(ControlError) in
                let body = try await Self.object(request)
                let enabled = body["payouts_enabled"]?.bool
                let transfers = body["transfers"]?.string
                guard enabled != nil || transfers != nil, body["payouts_enabled"] == nil || enabled != nil,
                      body["transfers"] == nil || ["active", "inactive", "pending"].contains(transfers ?? "") else {
                    throw ControlError("bad_request",
                                       "send {\"payouts_enabled\": true|false} and/or {\"transfers\": \"active\"|\"inactive\"|\"pending\"}")
                }
                let id = Answer.parameter(context, "id")
                let account = StripeRoutes.account(id: id, payoutsEnabled: enabled, transfers: transfers, world: world)
                StripeRoutes.send("account.updated", account, key: nil, world: world)
                return account
            }
        }
        router.post("/_sandbox/stripe/balance") { request, _ in
            await Self.handle { () throws(ControlError) in
                let body = try await Self.object(request)
                guard let currency = body["currency"]?.string, currency.count == 3,
                      body["available"] == .null || (body["available"]?.int).map({ $0 >= 0 }) == true else {
                    throw ControlError("bad_request",
                                       "send {\"currency\": \"usd\", \"available\": N} (Stripe's units, N >= 0) or \"available\": null (no limit)")
                }
                world.stripe.setAvailable(body["available"]?.int, currency: currency)
                return ["currency": .string(currency.lowercased()), "available": body["available"] ?? .null]
            }
        }
        router.post("/_sandbox/stripe/idempotency/expire") { request, _ in
            await Self.handle { () throws(ControlError) in
                let body = try await Self.object(request)
                let key: String?
                switch body["key"] {
                case nil, .null?: key = nil
                case .string(let named)?: key = named
                default: throw ControlError("bad_request", "send {} (every key) or {\"key\": \"…\"}")
                }
                return ["expired": .int(world.idempotency.expire(key: key))]
            }
        }
        router.post("/_sandbox/stripe/payment_intents/{id}/settle") { request, context in
            await Self.handle { () throws(ControlError) in
                guard let status = try await Self.object(request)["status"]?.string, ["succeeded", "failed"].contains(status) else {
                    throw ControlError("bad_request", "send {\"status\": \"succeeded\"|\"failed\"}")
                }
                let id = Answer.parameter(context, "id")
                guard let intent = StripeRoutes.settle(id, succeeded: status == "succeeded", world: world) else {
                    throw ControlError("not_found", "no processing PaymentIntent \(id)", status: 404)
                }
                return intent
            }
        }
        router.post("/_sandbox/fleetbase/orders/{id}/status") { request, context in
            await Self.handle { () throws(ControlError) in
                guard let status = try await Self.object(request)["status"]?.string, !status.isEmpty else {
                    throw ControlError("bad_request", "send {\"status\": \"dispatched\"|\"failed\"|…}")
                }
                let event = ["dispatched": "order.dispatched", "completed": "order.completed", "failed": "order.failed",
                             "dispatch_failed": "order.dispatch_failed"][status] ?? "order.updated"
                let id = Answer.parameter(context, "id")
                guard let order = FleetbaseRoutes.setStatus(id, status, event: event, world: world) else {
                    throw ControlError("not_found", "no Fleetbase order \(id)", status: 404)
                }
                return order
            }
        }
    }

    /// `{"kind": "fail", "endpoint": "POST /stripe/v1/payment_intents", "status": 500, "times": 1}`
    /// (`"retry_after": 2` adds that `Retry-After` header, as a 503 may carry; `"from": "proxy"`
    /// answers a plain text body, as a proxy, a gateway or a wrong URL would, not the service's error),
    /// `{"kind": "rate_limit", "endpoint": …, "retry_after": 1, "times": 1}`,
    /// `{"kind": "hang", "endpoint": …, "seconds": 30, "times": 1}`,
    /// `{"kind": "garble", "endpoint": …, "times": 1}` (the service runs; its success answer is cut off),
    /// `{"kind": "fail_behind", "endpoint": …, "status": 500, "times": 1}` (the service runs and keeps
    /// what it did; its success answer becomes that error, which a Stripe POST saves under its
    /// idempotency key and replays to every retry with it until the key expires),
    /// `{"kind": "decline", "customer": "cus_…", "decline_code": "insufficient_funds", "times": 1}`,
    /// `{"kind": "processing", "customer": "cus_…", "times": 1}` (the charge stays `processing`, no webhook,
    /// until `POST /_sandbox/stripe/payment_intents/{id}/settle`),
    /// `{"kind": "requires_action", "customer": "cus_…", "times": 1}` (the customer's bank asks them to
    /// authenticate the charge: it stays `requires_action` until canceled, no webhook; an off-session
    /// charge is declined instead, 402 `authentication_required`, as Stripe does, unless
    /// `"even_off_session": true`; `"next_action": "display_bank_transfer_instructions"` names another
    /// next action than `use_stripe_sdk`: a payment the customer makes later, `requires_action` even
    /// off-session).
    static func script(_ body: [String: SandboxJSON], world: SandboxWorld) throws(ControlError) -> SandboxJSON {
        let times = body["times"]?.int ?? 1
        guard (1...10_000).contains(times) else { throw ControlError("bad_request", "times must be 1...10000") }
        let kind = body["kind"]?.string ?? ""
        if kind == "decline" {
            guard let customer = body["customer"]?.string, !customer.isEmpty else {
                throw ControlError("bad_request", "a decline needs a customer")
            }
            world.scripting.decline(customer: customer, code: body["decline_code"]?.string ?? "generic_decline", times: times)
            return world.scripting.json
        }
        if kind == "processing" || kind == "requires_action" {
            guard let customer = body["customer"]?.string, !customer.isEmpty else {
                throw ControlError("bad_request", "\(kind) needs a customer")
            }
            let nextAction = kind == "requires_action" ? body["next_action"]?.string ?? "use_stripe_sdk" : nil
            let evenOffSession = body["even_off_session"]?.bool ?? false
            guard body["even_off_session"] == nil || body["even_off_session"]?.bool != nil else {
                throw ControlError("bad_request", "even_off_session must be true or false")
            }
            world.scripting.leaveUnsettled(customer: customer, .init(status: kind, nextAction: nextAction,
                                                                     evenOffSession: evenOffSession, left: times))
            return world.scripting.json
        }
        guard let endpoint = body["endpoint"]?.string, world.endpoints.contains(endpoint) else {
            throw ControlError("unknown_endpoint", "endpoint must be one of: \(world.endpoints.all.joined(separator: ", "))")
        }
        let outcome: Scripting.Outcome
        switch kind {
        case "fail":
            let status = body["status"]?.int ?? 500
            guard (400...599).contains(status) else { throw ControlError("bad_request", "status must be 400...599") }
            let from = body["from"]?.string ?? "service"
            guard body["from"] == nil || (body["from"]?.string != nil && ["service", "proxy"].contains(from)) else {
                throw ControlError("bad_request", "from must be service or proxy")
            }
            outcome = .fail(status: status, retryAfter: try retryAfter(body["retry_after"]), byProxy: from == "proxy")
        case "rate_limit":
            outcome = .rateLimit(retryAfter: try retryAfter(body["retry_after"]) ?? 1)
        case "hang":
            let seconds = NSDecimalNumber(decimal: body["seconds"]?.decimal ?? 30).doubleValue
            guard seconds > 0 else { throw ControlError("bad_request", "seconds must be positive") }
            outcome = .hang(seconds: seconds)
        case "garble":
            outcome = .garble
        case "fail_behind":
            let status = body["status"]?.int ?? 500
            guard (500...599).contains(status) else { throw ControlError("bad_request", "status must be 500...599") }
            outcome = .failBehind(status: status)
        default:
            throw ControlError("bad_request",
                               "kind must be fail, fail_behind, rate_limit, hang, garble, decline, processing or requires_action")
        }
        world.scripting.script(endpoint, outcome, times: times)
        return world.scripting.json
    }

    /// A script's `retry_after` (seconds), if given.
    private static func retryAfter(_ value: SandboxJSON?) throws(ControlError) -> Int? {
        guard let value, value != .null else { return nil }
        guard let seconds = value.int, (0...604_800).contains(seconds) else {
            throw ControlError("bad_request", "retry_after must be 0...604800 seconds")
        }
        return seconds
    }

    static func object(_ request: Request) async throws(ControlError) -> [String: SandboxJSON] {
        guard let buffer = try? await request.body.collect(upTo: 1 << 20),
              let object = SandboxJSON.parse(Data(buffer.readableBytesView))?.object else {
            throw ControlError("bad_request", "the body must be a JSON object")
        }
        return object
    }

    static func handle(_ body: () async throws(ControlError) -> SandboxJSON) async -> Response {
        do { return Answer.json(try await body()) } catch {
            return Answer.json(["error": ["code": .string(error.code), "message": .string(error.message)]], status: error.status)
        }
    }
}

struct ControlError: Error {
    let code: String
    let message: String
    let status: Int

    init(_ code: String, _ message: String, status: Int = 400) {
        self.code = code
        self.message = message
        self.status = status
    }
}
