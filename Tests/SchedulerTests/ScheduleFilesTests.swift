import Foundation
import XCTest
@testable import Scheduler

final class ScheduleFilesTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "schedules-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
    }

    /// The error message `load` throws, or "loaded N" if it succeeds.
    func loadError() -> String {
        do {
            return "loaded \(try ScheduleFiles.load(directory: directory).count)"
        } catch {
            return error.description
        }
    }

    func testLoadsEveryKeyAndDefaults() throws {
        try write("b-nightly.yaml", """
            name: nightly-report
            cron: "30 2 * * *"
            timezone: Europe/Berlin
            job: reports.nightly
            args:
              format: pdf
              copies: 2
              ratio: 0.5
              draft: false
              recipients: [ops@example.com, "finance@example.com"]
              options: { zeta: 1, alpha: null }
              url: https://example.com/a/b
              quoted: "42"
            queue: reports
            catch_up: all
            enabled: false
            """)
        try write("a-minimal.yml", """
            name: heartbeat
            cron: "*/10 * * * * *"
            job: system.heartbeat
            """)
        try write("README.md", "not a schedule")
        try write(".hidden.yaml", "name: [broken")
        try FileManager.default.createDirectory(atPath: directory + "/nested.yaml", withIntermediateDirectories: true)

        let schedules = try ScheduleFiles.load(directory: directory)
        XCTAssertEqual(schedules.map(\.name), ["heartbeat", "nightly-report"], "sorted by file name")

        let heartbeat = schedules[0]
        XCTAssertEqual(heartbeat.cronText, "*/10 * * * * *")
        XCTAssertTrue(heartbeat.cron.hasSeconds)
        XCTAssertEqual(heartbeat.timeZone, ScheduleDefinition.utc)
        XCTAssertEqual(heartbeat.timeZone.secondsFromGMT(for: cronDate("2026-06-05T00:00:00Z")), 0)
        XCTAssertEqual(heartbeat.jobKind, "system.heartbeat")
        XCTAssertEqual(heartbeat.argumentsJSON, "{}")
        XCTAssertNil(heartbeat.queue)
        XCTAssertEqual(heartbeat.catchUp, .latest)
        XCTAssertTrue(heartbeat.enabled)
        XCTAssertEqual(heartbeat.file, directory + "/a-minimal.yml")

        let nightly = schedules[1]
        XCTAssertEqual(nightly.cron, try CronExpression("30 2 * * *"))
        XCTAssertEqual(nightly.timeZone.identifier, "Europe/Berlin")
        XCTAssertEqual(nightly.jobKind, "reports.nightly")
        XCTAssertEqual(nightly.argumentsJSON,
                       #"{"copies":2,"draft":false,"format":"pdf","options":{"alpha":null,"zeta":1},"quoted":"42","ratio":0.5,"recipients":["ops@example.com","finance@example.com"],"url":"https://example.com/a/b"}"#)
        XCTAssertEqual(nightly.queue, "reports")
        XCTAssertEqual(nightly.catchUp, .all)
        XCTAssertFalse(nightly.enabled)
        XCTAssertEqual(cronISO(nightly.nextRun(after: cronDate("2026-03-28T12:00:00Z"))), "2026-03-29T01:00:00Z")
    }

    func testEmptyDirectoryAndEmptyArgs() throws {
        XCTAssertEqual(try ScheduleFiles.load(directory: directory), [])
        try write("x.yaml", "name: x\ncron: '@daily'\njob: a.b\nargs:\ncatch_up: none\nenabled: yes\n")
        let schedule = try XCTUnwrap(try ScheduleFiles.load(directory: directory + "/").first)
        XCTAssertEqual(schedule.argumentsJSON, "{}")
        XCTAssertEqual(schedule.catchUp, CatchUpPolicy.none)
        XCTAssertTrue(schedule.enabled)
        XCTAssertEqual(schedule.file, directory + "/x.yaml")
    }

    func testUnquotedCronNotStartingWithStarParses() throws {
        try write("x.yaml", "name: 42\ncron: 0 */2 * * mon-fri\njob: a.b\nqueue: 'default'\n")
        let schedule = try XCTUnwrap(try ScheduleFiles.load(directory: directory).first)
        XCTAssertEqual(schedule.name, "42")
        XCTAssertEqual(schedule.cronText, "0 */2 * * mon-fri")
        XCTAssertEqual(schedule.queue, "default")
    }

    func testErrorsNameTheFileAndTheProblem() throws {
        let file = directory + "/x.yaml"
        let cases: [(String, String)] = [
            ("name: x\ncron: '0 0 * * *'\njob: a.b\ncolour: red\n",
             "\(file): unknown key 'colour' (allowed: name, cron, timezone, job, args, queue, catch_up, enabled)"),
            ("cron: '0 0 * * *'\njob: a.b\n", "\(file): missing required key 'name'"),
            ("name: x\njob: a.b\n", "\(file): missing required key 'cron'"),
            ("name: x\ncron: '0 0 * * *'\n", "\(file): missing required key 'job'"),
            ("name: x\ncron: '0 0 * * *'\njob:\n", "\(file): missing required key 'job'"),
            ("name: ''\ncron: '0 0 * * *'\njob: a.b\n", "\(file): 'name' must not be empty"),
            ("name: [a, b]\ncron: '0 0 * * *'\njob: a.b\n", "\(file): 'name' must be a single value, not a list or mapping"),
            ("name: x\ncron: '0 25 * * *'\njob: a.b\n",
             "\(file): cron expression \"0 25 * * *\": field 2 (hour) value 25 is out of range 0-23"),
            ("name: x\ncron: '0 0 * * *'\ntimezone: Mars/Olympus_Mons\njob: a.b\n",
             "\(file): unknown time zone 'Mars/Olympus_Mons' (use an IANA name such as Europe/Berlin or UTC)"),
            ("name: x\ncron: '0 0 * * *'\njob: a.b\ncatch_up: sometimes\n",
             "\(file): 'catch_up' must be latest, all or none, not 'sometimes'"),
            ("name: x\ncron: '0 0 * * *'\njob: a.b\nenabled: maybe\n", "\(file): 'enabled' must be true or false"),
            ("name: x\ncron: '0 0 * * *'\njob: a.b\nargs: [1, 2]\n",
             "\(file): 'args' must be a mapping of argument names to values"),
            ("name: x\ncron: '0 0 * * *'\njob: a.b\nargs: { limit: .inf }\n",
             "\(file): 'args' has args.limit = .inf, which JSON cannot hold"),
            ("name: x\nname: y\ncron: '0 0 * * *'\njob: a.b\n", "\(file): 'name' appears more than once"),
            ("name: x\ncron: '0 0 30 2 *'\njob: a.b\n", "\(file): 'cron' '0 0 30 2 *' never fires (no date matches it)"),
            ("name: x\ncron: '0 0 31 4,6,9,11 *'\njob: a.b\n",
             "\(file): 'cron' '0 0 31 4,6,9,11 *' never fires (no date matches it)"),
            ("name: x\ncron: '0 0 * * *'\njob: a.b\nqueue: 'billing:daily'\n",
             "\(file): 'queue' must be 1-64 letters, digits, '_', '-' or '.' (not dots alone), not 'billing:daily'"),
            ("name: x\ncron: '0 0 * * *'\njob: a.b\nqueue: pay outs\n",
             "\(file): 'queue' must be 1-64 letters, digits, '_', '-' or '.' (not dots alone), not 'pay outs'"),
            ("", "\(file): the file must hold one schedule, a mapping with keys name, cron, job (and optionally timezone, args, queue, catch_up, enabled)"),
            ("- name: x\n", "\(file): the file must hold one schedule, a mapping with keys name, cron, job (and optionally timezone, args, queue, catch_up, enabled)"),
        ]
        for (text, expected) in cases {
            try write("x.yaml", text)
            XCTAssertEqual(loadError(), expected, text)
            XCTAssertFalse(loadError().contains("\n"), "one line: \(text)")
        }
    }

    func testInvalidYAMLIsOneLineWithAQuotingHint() throws {
        try write("x.yaml", "name: x\ncron: */15 * * * *\njob: a.b\n")
        let message = loadError()
        XCTAssertTrue(message.hasPrefix(directory + "/x.yaml: invalid YAML: line 2"), message)
        XCTAssertTrue(message.hasSuffix(#"(quote the cron expression, e.g. cron: "*/5 * * * *")"#), message)
        XCTAssertFalse(message.contains("\n"), message)

        try write("x.yaml", "name: x\ncron: @daily\njob: a.b\n")
        XCTAssertTrue(loadError().hasSuffix(#"(quote the cron expression, e.g. cron: "*/5 * * * *")"#), loadError())

        try write("x.yaml", "name: [unclosed\ncron: '0 0 * * *'\njob: a.b\n")
        XCTAssertTrue(loadError().hasPrefix(directory + "/x.yaml: invalid YAML: line "), loadError())
        XCTAssertFalse(loadError().contains("quote the cron"), loadError())

        try write("x.yaml", "name: x\ncron: '0 0 * * *'\njob: a.b\n---\nname: y\n")
        XCTAssertTrue(loadError().hasPrefix(directory + "/x.yaml: invalid YAML: "), "one schedule per file: \(loadError())")
    }

    func testDuplicateNames() throws {
        try write("a.yaml", "name: nightly\ncron: '0 0 * * *'\njob: a.b\n")
        try write("b.yml", "name: nightly\ncron: '0 1 * * *'\njob: a.c\n")
        XCTAssertEqual(loadError(), "\(directory)/b.yml: schedule name 'nightly' is already used by \(directory)/a.yaml")
    }

    /// A schedule file is not passed over in silence: `.YAML` counts, and a link to nothing is an
    /// error naming it (before, both were skipped and start-up succeeded without the schedule).
    func testUpperCaseExtensionsLoadAndADanglingLinkIsAnError() throws {
        try write("payouts.YAML", "name: payouts\ncron: '0 2 * * *'\njob: a.b\n")
        XCTAssertEqual(try ScheduleFiles.load(directory: directory).map(\.name), ["payouts"])
        try FileManager.default.createSymbolicLink(atPath: directory + "/billing.yaml", withDestinationPath: directory + "/gone.yaml")
        let error = loadError()
        XCTAssertTrue(error.hasPrefix("\(directory)/billing.yaml:"), error)
    }

    func testMissingDirectory() {
        do {
            _ = try ScheduleFiles.load(directory: directory + "/absent")
            XCTFail("loaded a missing directory")
        } catch {
            guard case let .unreadableDirectory(path, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, directory + "/absent")
            XCTAssertTrue(error.description.hasPrefix(directory + "/absent: cannot read the schedules directory"))
            XCTAssertFalse(error.description.contains("\n"))
        }
    }

    func testValidateKnownKinds() throws {
        try write("a.yaml", "name: a\ncron: '0 0 * * *'\njob: reports.nightly\n")
        try write("x.yaml", "name: x\ncron: '0 0 * * *'\njob: foo.bar\n")
        let schedules = try ScheduleFiles.load(directory: directory)
        XCTAssertNoThrow(try schedules.validate(knownKinds: ["reports.nightly", "foo.bar"]))
        do {
            try schedules.validate(knownKinds: ["reports.nightly"])
            XCTFail("accepted an unregistered kind")
        } catch {
            XCTAssertEqual(error, .unregisteredJobKind(file: directory + "/x.yaml", kind: "foo.bar"))
            XCTAssertEqual(error.description, "\(directory)/x.yaml: job kind 'foo.bar' is not registered")
        }
        XCTAssertThrowsError(try ScheduleFiles.validate(schedules, knownKinds: []))
    }

    func testRelativeDirectoryKeepsRelativeFileNames() throws {
        let parent = (directory as NSString).deletingLastPathComponent
        let folder = (directory as NSString).lastPathComponent
        try write("x.yaml", "name: x\ncron: '0 0 * * *'\njob: foo.bar\n")
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(parent))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        let schedules = try ScheduleFiles.load(directory: folder)
        do {
            try schedules.validate(knownKinds: [])
            XCTFail("accepted an unregistered kind")
        } catch {
            XCTAssertEqual(error.description, "\(folder)/x.yaml: job kind 'foo.bar' is not registered")
        }
    }
}
