import Foundation
import XCTest

/// A `cityos` process started by a test (a worker to kill, a scheduler replica), with the
/// test servers' environment plus `environment`. Its output goes to a log file for diagnosis.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    public let logPath: String

    /// Starts `cityos` (the binary the test command built) with `arguments`.
    public convenience init(arguments: [String], environment: [String: String] = [:]) throws {
        try self.init(executable: try TestEnvironment.value("CITYOS_BIN"), arguments: arguments, environment: environment)
    }

    /// Starts any program, e.g. `/bin/bash scripts/services.sh restart-redis test`.
    public init(executable: String, arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        logPath = NSTemporaryDirectory() + "cityos-child-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the process to exit (bounded); returns its exit status.
    public func waitForExit(timeout: Duration = .seconds(30), file: StaticString = #filePath, line: UInt = #line) async throws -> Int32 {
        try await eventually(timeout: timeout, "process \(pid) did not exit; log: \(logPath)", file: file, line: line) {
            !self.process.isRunning
        }
        return process.terminationStatus
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}
