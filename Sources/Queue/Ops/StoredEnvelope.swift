/// A stored job as operators are shown it (dead letters, job lookup): the envelope when it
/// decodes, else the stored text as it is, so that nothing stored is hidden.
enum StoredEnvelope {
    static func read(_ payload: [UInt8]) -> (envelope: JobEnvelope?, raw: String?) {
        if let envelope = try? JobEnvelope.decode(payload) { return (envelope, nil) }
        return (nil, String(decoding: payload, as: UTF8.self))
    }
}
