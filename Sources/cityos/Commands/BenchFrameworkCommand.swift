import ArgumentParser
import Config
import Hummingbird
import Logging
import NIOPosix

extension BenchCommand {
    /// `cityos bench framework-server`: Hummingbird with one route and nothing else, so that
    /// `scripts/bench-ingress.sh` can measure, in the same run as the ingress, what the HTTP
    /// framework itself spends answering a request on this machine.
    ///
    /// The ingress's own `/bench/noop` goes through everything the ingress puts around a route
    /// (the webhook fast path's look at each head, the request log, metrics, trace ids, the idle
    /// timer); this server has none of it: no middleware, no Redis, no logging per request.
    struct FrameworkServer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "framework-server",
            abstract: "Serve POST /bench/noop from a bare Hummingbird application until SIGTERM: the framework's own ceiling.",
            discussion: """
                The answer is the ingress's no-work answer (202, a JSON body naming a job id), written \
                by a router with no middleware. Nothing else is served and nothing is logged per request.
                """)

        @Option(help: "The address to listen on.") var host = "127.0.0.1"
        @Option(help: "The port to listen on.") var port = 8091
        @Option(help: "Event loops; 0 (the default): as the ingress's http.event_loops, one fewer than the cores, at least one.")
        var eventLoops = 0

        func validate() throws {
            guard eventLoops >= 0, (1...65535).contains(port) else {
                throw ValidationError("--event-loops must be 0 or more, --port 1…65535")
            }
        }

        func run() async throws {
            let loops = eventLoops > 0 ? eventLoops : CityOSConfig.defaultHTTPEventLoops
            let group = MultiThreadedEventLoopGroup(numberOfThreads: loops)
            let body = ByteBuffer(string: #"{"duplicate":false,"job_id":"noop"}"#)
            let router = Router()
            router.post("/bench/noop") { _, _ in
                Response(status: .accepted, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
            }
            var logger = Logger(label: "cityos.bench.framework")
            logger.logLevel = .notice
            let app = Application(router: router, configuration: .init(address: .hostname(host, port: port)),
                                  eventLoopGroupProvider: .shared(group), logger: logger)
            do {
                try await app.runService()   // until SIGTERM or SIGINT
            } catch {
                try? await group.shutdownGracefully()
                throw error
            }
            try await group.shutdownGracefully()
        }
    }
}
