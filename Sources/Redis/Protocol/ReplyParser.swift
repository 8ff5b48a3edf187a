import CHiredis

/// Turns bytes from the socket into replies, with hiredis's `redisReader`.
/// Feed whatever arrived; take every whole reply that is ready. Not thread-safe:
/// one parser belongs to one connection's event loop.
final class ReplyParser {
    private let reader: UnsafeMutablePointer<redisReader>

    init?() {
        guard let reader = redisReaderCreate() else { return nil }
        // hiredis frees its emptied buffer when more than this is left over (its default, 16 KiB,
        // would shrink and regrow it between a worker's larger replies); 0 would keep the largest
        // reply's buffer for the connection's life (one HGETALL of a big hash, held for good).
        reader.pointee.maxbuf = 1 << 20
        self.reader = reader
    }

    deinit { redisReaderFree(reader) }

    /// Hands bytes to the reader.
    func feed(_ bytes: UnsafeRawBufferPointer) throws(RedisError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) != REDIS_OK {
            throw RedisError.protocolError(errorString)
        }
    }

    /// The next whole reply, or `nil` if more bytes are needed.
    func next() throws(RedisError) -> RedisReply? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
            throw RedisError.protocolError(errorString)
        }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    private var errorString: String {
        withUnsafeBytes(of: reader.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            return .bulk(bytes(r.str, r.len))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int(r.integer))
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            items.reserveCapacity(r.elements)
            for i in 0..<r.elements {
                if let element = r.element[i] { items.append(convert(element)) }
            }
            return .array(items)
        default:
            return .null
        }
    }

    private static func bytes(_ str: UnsafeMutablePointer<CChar>?, _ len: Int) -> [UInt8] {
        guard let str, len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: str, count: len))
    }
}
