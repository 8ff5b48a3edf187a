import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// HTTP/1.1 over a plain socket, for what a client library will not do: several requests
/// written at once on one connection (pipelining), answers read back in order.
public enum RawHTTP {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: String
        public var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] }
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// A request as bytes, with `Content-Length` and `Host` filled in.
    public static func request(_ method: String, _ path: String, body: [UInt8] = [], headers: [(String, String)] = []) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        return Array((head + "\r\n").utf8) + body
    }

    /// Writes `bytes` in one `write` on a new connection to `port`, then reads until `count`
    /// responses (each framed by its Content-Length) have arrived, or 10 s have passed.
    public static func exchange(port: Int, _ bytes: [UInt8], responses count: Int) throws -> [Response] {
        let connection = try Connection(port: port)
        try connection.write(bytes)
        return try connection.read(responses: count)
    }

    /// One client connection kept open across exchanges (closed when released).
    public final class Connection {
        private let fd: Int32
        private var received: [UInt8] = []

        public init(port: Int) throws {
            fd = try RawHTTP.connectLoopback(port: port)
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(fd) }

        /// Writes `bytes` in one `write`.
        public func write(_ bytes: [UInt8]) throws {
            let written = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            guard written == bytes.count else { throw Failure(description: "wrote \(written) of \(bytes.count) bytes") }
        }

        /// Shuts this side's sending half (`shutdown(SHUT_WR)`): the server reads the end of input,
        /// and may still write.
        public func finishSending() {
            _ = shutdown(fd, Int32(SHUT_WR))
        }

        /// Reads until `count` more responses have arrived (10 s at most without a byte).
        public func read(responses count: Int) throws -> [Response] {
            var responses: [Response] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while responses.count < count {
                if let (response, used) = parse(received) {
                    responses.append(response)
                    received.removeFirst(used)
                    continue
                }
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else {
                    throw Failure(description: "connection ended after \(responses.count) of \(count) responses; "
                                  + "unparsed: \(String(decoding: received, as: UTF8.self))")
                }
                received += chunk[0..<n]
            }
            return responses
        }

        /// Waits (at most `seconds`) for the server to close the connection; how long that took.
        /// - Throws: if bytes arrive instead, or the connection is still open after `seconds`.
        public func awaitClose(seconds: Double) throws -> Double {
            let start = Date()
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let left = seconds - Date().timeIntervalSince(start)
                guard left > 0 else { throw Failure(description: "still open after \(seconds) s") }
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, Int32(left * 1000) + 1) > 0 else { continue }
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 { throw Failure(description: "expected the connection to close; got \(n) bytes") }
                return Date().timeIntervalSince(start)
            }
        }
    }

    /// Whether something accepts TCP connections on `port`.
    public static func accepts(port: Int) -> Bool {
        guard let fd = try? connectLoopback(port: port) else { return false }
        close(fd)
        return true
    }

    /// A socket connected to 127.0.0.1:`port`.
    private static func connectLoopback(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(description: "connect: \(errno)")
        }
        return fd
    }

    /// `exchange` on a thread of its own, so that waiting on the socket blocks no task.
    public static func exchangeOffPool(port: Int, _ bytes: [UInt8], responses count: Int) async throws -> [Response] {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try exchange(port: port, bytes, responses: count) })
            }
        }
    }

    private static func parse(_ bytes: [UInt8]) -> (Response, Int)? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4, let end = (0...(bytes.count - 4)).first(where: { Array(bytes[$0..<$0 + 4]) == separator })
        else { return nil }
        let lines = String(decoding: bytes[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        guard bytes.count >= end + 4 + length else { return nil }
        let body = String(decoding: bytes[(end + 4)..<(end + 4 + length)], as: UTF8.self)
        return (Response(status: status, headers: headers, body: body), end + 4 + length)
    }
}
