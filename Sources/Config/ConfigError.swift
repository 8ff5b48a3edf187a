import Redaction

/// A configuration problem that stops start-up, named in one line.
public enum ConfigError: Error, Sendable, CustomStringConvertible {
    case missing(key: String, environmentName: String)
    case invalid(key: String, environmentName: String, value: String, expected: String)
    case unknownKey(key: String, path: String)
    case secretInFile(key: String, environmentName: String)
    case unreadableFile(path: String, reason: String)

    public var description: String {
        switch self {
        case .missing(let key, let env):
            return "configuration: \(key) is not set (set it in Config/cityos.yaml or \(env))"
        case .invalid(let key, let env, let value, let expected):
            return "configuration: \(key) (\(env)) is '\(URLRedaction.maskingSecret(in: value))', expected \(expected)"
        case .unknownKey(let key, let path):
            return "configuration: unknown key '\(key)' in \(path)"
        case .secretInFile(let key, let env):
            return "configuration: \(key) is a secret: set it in the environment (\(env)), not in a file"
        case .unreadableFile(let path, let reason):
            return "configuration: cannot read \(path): \(reason)"
        }
    }
}
