import ArgumentParser
import Queue

/// `cityos enqueue KIND --args JSON`: enqueues one job and prints its id.
struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue", abstract: "Enqueue one job and print its id.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Job kind, e.g. diag.noop.") var kind: String
    @Option(help: "Arguments as a JSON object.") var args: String = "{}"
    @Option(help: "Queue (default: the kind's queue).") var queue: String?
    @Option(help: "Tenant id.") var tenant: String?
    @Option(help: "Run no earlier than this many seconds from now.") var delay: Double?
    @Option(name: .customLong("idempotency-key"), help: "A second enqueue with this key returns the first job's id.")
    var idempotencyKey: String?

    /// The names the API checks too: a queue or tenant outside the rule would make keys no
    /// listing, cancel or replay can name (`}` would also break the queue's hash tag).
    func validate() throws {
        if let queue, !KeyName.isValid(queue) { throw ValidationError("--queue must be \(KeyName.rule)") }
        if let tenant, !KeyName.isValid(tenant) { throw ValidationError("--tenant must be \(KeyName.rule)") }
    }

    func run() async throws {
        let platform = try Platform.load(global)
        let client = JobClient(redis: platform.redis, registry: platform.registry, namespace: platform.namespace)
        do {
            let receipt = try await client.enqueue(
                kind: kind, args: try JSONValue.parse(args),
                options: .init(queue: queue, tenant: tenant, delaySeconds: delay, idempotencyKey: idempotencyKey))
            print(receipt.id)
            if let warning = await QueueStatus.unservedWarning(for: platform.registry.queue(for: kind, override: queue),
                                                               redis: platform.redis, namespace: platform.namespace) {
                warn(warning)
            }
        } catch let failure as JobFailure {
            throw userError(failure.description)
        }
    }
}
