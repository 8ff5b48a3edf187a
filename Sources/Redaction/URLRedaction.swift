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
    /// The userinfo runs from `://` to the last `@`, so a URL that does not parse is masked by
    /// the same rule. A value that is not `scheme://…@…` comes back unchanged.
    public static func maskingSecret(in value: String) -> String {
        guard let scheme = value.firstRange(of: "://"), let at = value.lastIndex(of: "@"),
              scheme.upperBound < at else { return value }
        let userinfo = value[scheme.upperBound..<at]
        if let colon = userinfo.firstIndex(of: ":") {
            return String(value[...colon]) + mask + String(value[at...])
        }
        guard passwordOnlySchemes.contains(value[..<scheme.lowerBound].lowercased()) else { return value }
        return String(value[..<scheme.upperBound]) + mask + String(value[at...])
    }

    /// Schemes whose userinfo without a colon is a password, not a user name.
    static let passwordOnlySchemes: Set<String> = ["redis", "rediss", "unix"]
}
