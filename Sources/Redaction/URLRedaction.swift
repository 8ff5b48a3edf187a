/// How a URL is shown where people read it — `cityos config`, start-up errors, logs — written
/// once for every module that takes one (the settings, the Redis binding, the store), so the
/// rule for what counts as the secret part cannot drift between them.
public enum URLRedaction {
    /// What stands in for a secret.
    public static let mask = "****"

    /// `value` with the password its userinfo may hold masked:
    /// - `scheme://user:secret@host…` → `scheme://user:****@host…`;
    /// - `redis://secret@host…` → `redis://****@host…`: the Redis binding reads a userinfo without
    ///   a colon as the password (so do `unix://` socket URLs). For any other scheme
    ///   (`postgres://cityos@host`) such a userinfo is a user name and stays.
    ///
    /// The userinfo runs from the scheme's `:` and the slashes after it to the last `@`, so a URL
    /// that does not parse is masked by the same rule, typos included (`postgres:/app:secret@db`
    /// is what someone who meant `postgres://…` wrote, with the real password in it). A value
    /// that is not `scheme:…@…` comes back unchanged.
    public static func maskingSecret(in value: String) -> String {
        guard let colon = value.firstIndex(of: ":"), isScheme(value[..<colon]), let at = value.lastIndex(of: "@") else {
            return value
        }
        var start = value.index(after: colon)
        while start < at, value[start] == "/" { start = value.index(after: start) }
        guard start < at else { return value }
        let userinfo = value[start..<at]
        if let separator = userinfo.firstIndex(of: ":") {
            return String(value[...separator]) + mask + String(value[at...])
        }
        guard passwordOnlySchemes.contains(value[..<colon].lowercased()) else { return value }
        return String(value[..<start]) + mask + String(value[at...])
    }

    /// RFC 3986's scheme: a letter, then letters, digits, `+`, `-` or `.`.
    private static func isScheme(_ text: Substring) -> Bool {
        guard let first = text.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic else { return false }
        return text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "+-.".unicodeScalars.contains($0)) }
    }

    /// Schemes whose userinfo without a colon is a password, not a user name.
    static let passwordOnlySchemes: Set<String> = ["redis", "rediss", "unix"]
}
