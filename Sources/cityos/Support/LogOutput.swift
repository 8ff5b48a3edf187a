import Foundation

/// Where log lines go: standard error, written by a background thread in as few `write(2)`s as
/// the load allows. The ingress logs every request; a caller only appends its line to a buffer,
/// so a request pays no system call for its log line (scripts/bench-ingress.sh measures the
/// logging's cost: run it with BENCH_LOG_LEVEL=warning to compare).
///
/// Nothing is dropped: a caller that finds more than `limit` bytes waiting writes them itself
/// (back-pressure instead of loss), `warning` and worse are written before the call returns,
/// and the buffer is flushed when the process exits (`atexit`). A process killed with SIGKILL
/// can lose the lines of its last moments, as with any buffered writer.
final class LogOutput: @unchecked Sendable {
    static let standardError = LogOutput(fd: 2)

    private let fd: Int32
    private let condition = NSCondition()
    private var buffer: [UInt8] = []   // guarded by `condition`
    /// The writer waits for a signal (it found nothing to write); guarded by `condition`.
    private var idle = false
    /// How long the writer lets lines gather after a write: at most one wake-up per interval.
    private let interval: useconds_t = 5_000
    private let limit = 1 << 20
    /// Serialises the actual writes, so lines keep their order between the thread and callers.
    private let writeLock = NSLock()

    private init(fd: Int32) {
        self.fd = fd
        buffer.reserveCapacity(64 * 1024)
        let thread = Thread { [unowned self] in self.drainForever() }
        thread.name = "cityos-log"
        thread.start()
        atexit { LogOutput.standardError.flush() }
    }

    /// Appends one line (with its newline). `urgent` writes it, and all before it, now.
    func append(_ line: [UInt8], urgent: Bool) {
        condition.lock()
        buffer.append(contentsOf: line)
        let full = buffer.count >= limit
        if idle {
            idle = false
            condition.signal()
        }
        condition.unlock()
        if urgent || full { flush() }
    }

    /// Writes everything appended so far.
    func flush() {
        writeLock.lock()
        defer { writeLock.unlock() }
        condition.lock()
        let pending = buffer
        buffer.removeAll(keepingCapacity: true)
        condition.unlock()
        write(pending)
    }

    private func drainForever() {
        var pending: [UInt8] = []
        pending.reserveCapacity(64 * 1024)
        while true {
            condition.lock()
            while buffer.isEmpty {
                idle = true
                condition.wait()
            }
            condition.unlock()
            writeLock.lock()
            condition.lock()
            swap(&pending, &buffer)
            condition.unlock()
            write(pending)
            writeLock.unlock()
            pending.removeAll(keepingCapacity: true)
            usleep(interval)   // let the next lines gather: one write per interval under load
        }
    }

    private func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let written = Foundation.write(fd, base + offset, raw.count - offset)
                if written > 0 { offset += written } else if written < 0 && errno == EINTR { continue } else { return }
            }
        }
    }
}
