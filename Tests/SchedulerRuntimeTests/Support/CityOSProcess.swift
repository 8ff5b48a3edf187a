import Foundation
import XCTest

/// A `cityos` child process, as operators run it: the binary of `CITYOS_BIN`, settings in
/// `CITYOS_*` variables, standard error kept in a file for the test to read.
final class CityOSProcess: @unchecked Sendable {
    // `Process` is not Sendable; it is configured in init and then only signalled.
    let process = Process()
    let arguments: [String]
    let stderrFile: URL
    let stdoutFile: URL
    private let exits: AsyncStream<Int32>

    /// The built `cityos` (scripts/test.sh exports CITYOS_BIN).
    static func binary() throws -> String {
        guard let path = ProcessInfo.processInfo.environment["CITYOS_BIN"], !path.isEmpty else {
            throw TestSetupError("CITYOS_BIN is not set: run the tests with scripts/test.sh (make test), or export "
                                 + "CITYOS_BIN=$(swift build --show-bin-path)/cityos after swift build")
        }
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestSetupError("CITYOS_BIN=\(path) is not an executable file; build it with swift build")
        }
        return path
    }

    /// Starts `cityos ARGUMENTS` in `directory` with the parent's environment plus `environment`.
    init(_ arguments: [String], environment: [String: String], directory: URL, label: String) throws {
        self.arguments = arguments
        process.executableURL = URL(fileURLWithPath: try Self.binary())
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.currentDirectoryURL = directory
        stderrFile = directory.appendingPathComponent("\(label).stderr")
        stdoutFile = directory.appendingPathComponent("\(label).stdout")
        for file in [stderrFile, stdoutFile] {
            guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                throw TestSetupError("cannot create \(file.path)")
            }
        }
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        exits = stream
        process.terminationHandler = { finished in
            continuation.yield(finished.terminationStatus)
            continuation.finish()
        }
        try process.run()
    }

    /// Sends SIGTERM (graceful shutdown).
    func terminate() { if process.isRunning { process.terminate() } }

    /// The exit status, waiting at most `seconds` for the process to exit.
    func exitStatus(within seconds: Double) async throws -> Int32 {
        let exits = self.exits
        let status = await withTaskGroup(of: Int32?.self) { group -> Int32? in
            group.addTask {
                for await status in exits { return status }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let status else {
            process.interrupt()
            throw TestSetupError("cityos \(arguments.joined(separator: " ")) did not exit within \(seconds)s; stderr:\n\(stderr)")
        }
        return status
    }

    var stderr: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }
    var stdout: String { (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? "" }

    /// Runs `cityos ARGUMENTS` to the end (at most `seconds`): exit status, stdout, stderr.
    static func run(_ arguments: [String], environment: [String: String] = [:], directory: URL,
                    label: String, within seconds: Double = 30) async throws -> (status: Int32, stdout: String, stderr: String) {
        let child = try CityOSProcess(arguments, environment: environment, directory: directory, label: label)
        let status = try await child.exitStatus(within: seconds)
        return (status, child.stdout, child.stderr)
    }
}

/// A temporary directory for one test, removed by `remove()`.
struct TemporaryDirectory: Sendable {
    let url: URL

    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("cityos-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Writes `text` to `name` inside (creating subfolders).
    @discardableResult
    func write(_ name: String, _ text: String) throws -> URL {
        let file = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}
