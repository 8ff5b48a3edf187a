import Histogram

#if canImport(Glibc)
import Glibc
#endif

/// One thread of `HTTPLoad`: its connections (watched with poll(2): a handful per thread), its counts. Touched by its
/// own thread only while it runs; read by the caller after it has finished.
final class LoadThread: @unchecked Sendable {
    private struct Connection {
        var fd: Int32 = -1
        var sentAt: UInt64 = 0
        var request = UnsafeRawBufferPointer(start: nil, count: 0)
        var written = 0
        /// Answer bytes read so far (into this connection's slice of `buffers`).
        var filled = 0
        /// Where the answer's body starts, once its head is complete.
        var bodyStart = -1
        var bodyLength = 0
        var status = 0
        var closes = false
    }

    private static let bufferSize = 4096

    private let requests: RequestSet
    private let window: HTTPLoad.Window
    private let address: sockaddr_in
    private let stride: Int
    private var next: Int
    private var connections: [Connection]
    private let buffers: UnsafeMutableRawPointer
    /// One entry per connection, in the same order; POLLOUT is asked for only while a write waits.
    private var watched: [pollfd]

    private(set) var latencies = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    private(set) var ok = 0
    private(set) var non2xx = 0
    private(set) var errors = 0
    private(set) var sent = 0
    /// Answers over the whole run, warm-up included (what the CPU time is divided by).
    private(set) var answered = 0

    /// Connects `connections` sockets to `host:port` (an IPv4 address); this thread sends
    /// requests `index`, `index + stride`, `index + 2 * stride`, ….
    init(index: Int, stride: Int, connections count: Int, host: String, port: Int,
         requests: RequestSet, window: HTTPLoad.Window) throws {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw HTTPLoad.Failure.connect("\(host) is not an IPv4 address") }
        self.address = address
        self.requests = requests
        self.window = window
        self.stride = stride
        self.next = index
        self.buffers = .allocate(byteCount: max(1, count) * Self.bufferSize, alignment: 64)
        self.connections = Array(repeating: Connection(), count: count)
        self.watched = Array(repeating: pollfd(fd: -1, events: Int16(POLLIN), revents: 0), count: count)
        for i in 0..<count { try connect(i) }
    }

    deinit {
        for connection in connections where connection.fd >= 0 { close(connection.fd) }
        buffers.deallocate()
    }

    private func connect(_ i: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPLoad.Failure.connect(String(cString: strerror(errno))) }
        var target = address
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw HTTPLoad.Failure.connect(why)
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        watched[i] = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        connections[i] = Connection(fd: fd)
    }

    func run() {
        waitUntil(window.begin)
        for i in connections.indices { send(i) }
        while HTTPLoad.monotonicNanos() < window.end {
            let ready = Glibc.poll(&watched, nfds_t(watched.count), 10)
            guard ready > 0 else { continue }
            for i in watched.indices where watched[i].revents != 0 {
                let flags = Int32(watched[i].revents)
                watched[i].revents = 0
                if flags & Int32(POLLOUT) != 0 { write(i) }
                if flags & Int32(POLLIN | POLLERR | POLLHUP) != 0 { read(i) }
            }
        }
    }

    private func waitUntil(_ instant: UInt64) {
        while true {
            let now = HTTPLoad.monotonicNanos()
            if now >= instant { return }
            usleep(useconds_t(min(100_000, (instant - now) / 1000)))
        }
    }

    private func send(_ i: Int) {
        connections[i].request = requests.request(next)
        next += stride
        sent += 1
        connections[i].written = 0
        connections[i].sentAt = HTTPLoad.monotonicNanos()
        write(i)
    }

    private func write(_ i: Int) {
        let request = connections[i].request
        while connections[i].written < request.count {
            let written = connections[i].written
            let n = Glibc.write(connections[i].fd, request.baseAddress! + written, request.count - written)
            if n > 0 {
                connections[i].written += n
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                setWritable(i, true)
                return
            } else {
                fail(i)
                return
            }
        }
        setWritable(i, false)
    }

    private func setWritable(_ i: Int, _ wanted: Bool) {
        watched[i].events = Int16(wanted ? POLLIN | POLLOUT : POLLIN)
    }

    private func read(_ i: Int) {
        let buffer = buffers + i * Self.bufferSize
        let filled = connections[i].filled
        guard filled < Self.bufferSize else { return fail(i) }
        let n = Glibc.read(connections[i].fd, buffer + filled, Self.bufferSize - filled)
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
        guard n > 0 else { return fail(i) }
        connections[i].filled += n
        if connections[i].bodyStart < 0 {
            guard let head = Self.readHead(UnsafeRawBufferPointer(start: buffer, count: connections[i].filled)) else { return }
            guard head.status > 0 else { return fail(i) }
            connections[i].bodyStart = head.bodyStart
            connections[i].bodyLength = head.bodyLength
            connections[i].status = head.status
            connections[i].closes = head.closes
        }
        let end = connections[i].bodyStart + connections[i].bodyLength
        if connections[i].filled < end { return }
        guard connections[i].filled == end else { return fail(i) }   // more than one answer: not what was asked
        complete(i)
    }

    private func complete(_ i: Int) {
        let now = HTTPLoad.monotonicNanos()
        answered += 1
        if now >= window.start && now < window.end {
            if (200..<300).contains(connections[i].status) { ok += 1 } else { non2xx += 1 }
            _ = latencies.record(max(1, (now - connections[i].sentAt) / 1000))
        }
        let closes = connections[i].closes
        connections[i].filled = 0
        connections[i].bodyStart = -1
        if closes { reconnect(i) }
        if now < window.end && connections[i].fd >= 0 { send(i) }
    }

    private func fail(_ i: Int) {
        errors += 1
        reconnect(i)
        if connections[i].fd >= 0 && HTTPLoad.monotonicNanos() < window.end { send(i) }
    }

    private func reconnect(_ i: Int) {
        close(connections[i].fd)
        connections[i] = Connection()
        watched[i] = pollfd(fd: -1, events: Int16(POLLIN), revents: 0)
        if (try? connect(i)) == nil { errors += 1 }
    }

    /// An answer's status, where its body starts, its length and whether the server closes;
    /// nil while the head is incomplete; status 0 for something that is not an HTTP/1.1 answer.
    static func readHead(_ bytes: UnsafeRawBufferPointer) -> (status: Int, bodyStart: Int, bodyLength: Int, closes: Bool)? {
        guard let end = headEnd(bytes) else { return nil }
        guard bytes.count >= 12, bytes.prefix(9).elementsEqual("HTTP/1.1 ".utf8) else { return (0, 0, 0, false) }
        var status = 0
        for byte in bytes[9..<12] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return (0, 0, 0, false) }
            status = status * 10 + Int(byte - UInt8(ascii: "0"))
        }
        var length = 0, closes = false, sawLength = false
        var lineStart = 0
        while lineStart < end {
            var lineEnd = lineStart
            while lineEnd < end && bytes[lineEnd] != UInt8(ascii: "\r") { lineEnd += 1 }
            let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd])
            if let value = fieldValue(line, "content-length:") {
                sawLength = true
                for byte in value where byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                    length = length * 10 + Int(byte - UInt8(ascii: "0"))
                }
            } else if let value = fieldValue(line, "connection:") {
                closes = value.contains(UInt8(ascii: "c")) || value.contains(UInt8(ascii: "C"))   // close (the server sends nothing else)
            } else if fieldValue(line, "transfer-encoding:") != nil {
                return (0, 0, 0, false)   // the ingress always sends Content-Length
            }
            lineStart = lineEnd + 2
        }
        guard sawLength else { return (0, 0, 0, false) }
        return (status, end + 4, length, closes)
    }

    /// Where the head's CRLFCRLF starts.
    private static func headEnd(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4)
        where bytes[i] == 0x0D && bytes[i + 1] == 0x0A && bytes[i + 2] == 0x0D && bytes[i + 3] == 0x0A {
            return i
        }
        return nil
    }

    /// The value after `name` (lower case, with its colon) if the line is that field.
    private static func fieldValue(_ line: UnsafeRawBufferPointer, _ name: StaticString) -> UnsafeRawBufferPointer? {
        let count = name.utf8CodeUnitCount
        guard line.count >= count else { return nil }
        for j in 0..<count {
            let byte = line[j]
            let folded = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
            if folded != name.utf8Start[j] { return nil }
        }
        return UnsafeRawBufferPointer(rebasing: line[count...])
    }
}
