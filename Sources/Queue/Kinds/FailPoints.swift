import Foundation

/// Named places where a test can make this process die on purpose, to prove that a crash
/// there loses and doubles nothing (e.g. between a job's commit and its acknowledgement).
/// Off unless `CITYOS_FAILPOINTS` names them (comma-separated); never set it in production.
public enum FailPoints {
    private static let enabled: Set<String> = Set(
        (ProcessInfo.processInfo.environment["CITYOS_FAILPOINTS"] ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })

    /// Kills this process at once (SIGKILL: no cleanup, like a power cut) if `name` is enabled.
    public static func crashIfEnabled(_ name: String) {
        guard enabled.contains(name) else { return }
        FileHandle.standardError.write(Data("failpoint \(name): killing process \(getpid())\n".utf8))
        kill(getpid(), SIGKILL)
    }
}
