import Config
import Foundation
import Redaction
import XCTest

final class ConfigurationTests: XCTestCase {
    /// No file (an empty one), so only defaults and the environment count.
    private var base: [String: String] {
        ["CITYOS_DATABASE_URL": "postgres://app@127.0.0.1:5432/cityos", "CITYOS_CONFIG": emptyFile]
    }
    private let emptyFile: String = {
        let path = NSTemporaryDirectory() + "cityos-empty-\(UUID().uuidString).yaml"
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        return path
    }()

    func testEnvironmentOverridesTheFile() throws {
        let file = try write("http:\n  port: 9000\nredis:\n  url: redis://127.0.0.1:7000/0\n")
        let config = try CityOSConfig.load(file: file, environment: base.merging(["CITYOS_HTTP_PORT": "9100"]) { $1 })
        XCTAssertEqual(config.httpPort, 9100)
        XCTAssertEqual(config.redisURL, "redis://127.0.0.1:7000/0")
        XCTAssertEqual(config.sources["http.port"], "CITYOS_HTTP_PORT")
    }

    /// An empty variable is unset: the file's value stays (it was replaced by the code's default).
    func testAnEmptyVariableLeavesTheFilesValue() throws {
        let file = try write("workers:\n  queues: payouts:2,default:1\n")
        let config = try CityOSConfig.load(file: file, environment: base.merging(["CITYOS_WORKERS_QUEUES": ""]) { $1 })
        XCTAssertEqual(config.workerQueues, "payouts:2,default:1")
        XCTAssertEqual(config.sources["workers.queues"], file)
    }

    /// `CITYOS_DATABASE_URL` with a file's admin URL of another database (the shipped file names the
    /// local dev one) is named, so that `cityos migrate` refuses rather than change that database;
    /// the same database, or both URLs from the environment, are fine.
    func testADatabaseURLFromTheEnvironmentAndAnAdminURLOfAnotherDatabaseAreNamed() throws {
        let file = try write("database:\n  url: postgres://app@127.0.0.1:5490/dev\n  admin_url: postgres://owner:pw@127.0.0.1:5490/dev\n")
        let production = "postgres://app:secret@db.internal:5432/cityos"
        let alone = try CityOSConfig.load(file: file, environment: ["CITYOS_DATABASE_URL": production])
        let mismatch = try XCTUnwrap(alone.adminURLMismatch)
        XCTAssertTrue(mismatch.contains("127.0.0.1:5490/dev") && mismatch.contains("db.internal:5432/cityos")
                      && mismatch.contains("CITYOS_DATABASE_ADMIN_URL"), mismatch)
        XCTAssertFalse(mismatch.contains("secret") || mismatch.contains("pw"), "no password: \(mismatch)")
        let both = try CityOSConfig.load(file: file, environment: ["CITYOS_DATABASE_URL": production,
                                                                   "CITYOS_DATABASE_ADMIN_URL": "postgres://owner@db.internal:5432/cityos"])
        XCTAssertNil(both.adminURLMismatch)
        let sameDatabase = try write("database:\n  admin_url: postgres://owner@db.internal:5432/cityos\n")
        let paired = try CityOSConfig.load(file: sameDatabase, environment: ["CITYOS_DATABASE_URL": production])
        XCTAssertNil(paired.adminURLMismatch, "a file's owner URL of the same database, the app's from the environment")
        XCTAssertEqual(paired.databaseAdminURL, "postgres://owner@db.internal:5432/cityos")
        let fileOnly = try CityOSConfig.load(file: file, environment: [:])
        XCTAssertNil(fileOnly.adminURLMismatch)
    }

    func testAMissingRequiredSettingNamesItInOneLine() {
        XCTAssertThrowsError(try CityOSConfig.load(file: nil, environment: ["CITYOS_CONFIG": emptyFile])) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("database.url") && text.contains("CITYOS_DATABASE_URL"), text)
            XCTAssertFalse(text.contains("\n"))
        }
    }

    func testABadValueNamesTheSettingAndWhatWasExpected() {
        XCTAssertThrowsError(try CityOSConfig.load(file: nil, environment: base.merging(["CITYOS_HTTP_PORT": "eighty"]) { $1 })) { error in
            XCTAssertEqual("\(error)", "configuration: http.port (CITYOS_HTTP_PORT) is 'eighty', expected an integer in 1...65535")
        }
        XCTAssertThrowsError(try CityOSConfig.load(file: nil, environment: base.merging(["CITYOS_REDIS_URL": "localhost:6379"]) { $1 }))
        // A URL's password is not repeated in the error.
        XCTAssertThrowsError(try CityOSConfig.load(file: nil, environment: base.merging(["CITYOS_DATABASE_URL": "mysql://app:s3cret@db/app"]) { $1 })) { error in
            XCTAssertEqual("\(error)", "configuration: database.url (CITYOS_DATABASE_URL) is 'mysql://app:****@db/app', "
                           + "expected a postgres://user@host:port/database URL")
        }
        // Seconds that would trap as a duration (an infinite or huge value) are refused by name.
        for bad in ["inf", "1e20", "nan", "0"] {
            XCTAssertThrowsError(try CityOSConfig.load(file: nil, environment: base.merging(
                ["CITYOS_WORKERS_SHUTDOWN_GRACE_SECONDS": bad]) { $1 })) { error in
                XCTAssertEqual("\(error)", "configuration: workers.shutdown_grace_seconds (CITYOS_WORKERS_SHUTDOWN_GRACE_SECONDS) "
                               + "is '\(bad)', expected a positive number of seconds, at most 604800 (a week)")
            }
        }
        // A pool of one: the outbox relay's LISTEN would hold it, and every job wait for ever.
        XCTAssertThrowsError(try CityOSConfig.load(file: nil, environment: base.merging(["CITYOS_DATABASE_POOL_SIZE": "1"]) { $1 })) { error in
            XCTAssertTrue("\(error)".contains("database.pool_size (CITYOS_DATABASE_POOL_SIZE) is '1'"), "\(error)")
        }
        // http.event_loops: 0 (the default) leaves a core to Redis, keeping at least one loop.
        let loops = try? CityOSConfig.load(file: nil, environment: base.merging(["CITYOS_HTTP_EVENT_LOOPS": "3"]) { $1 })
        XCTAssertEqual(loops?.httpEventLoops, 3)
        let byDefault = try? CityOSConfig.load(file: nil, environment: base)
        XCTAssertEqual(byDefault?.httpEventLoops, max(1, ProcessInfo.processInfo.activeProcessorCount - 1))
        // A Redis on the same machine may be reached over its Unix socket.
        let socket = try? CityOSConfig.load(file: nil, environment: base.merging(["CITYOS_REDIS_URL": "unix:///run/redis.sock"]) { $1 })
        XCTAssertEqual(socket?.redisURL, "unix:///run/redis.sock")
    }

    func testSecretsAreRefusedInFilesAndMaskedInOutput() throws {
        let file = try write("ops:\n  token: abc\n")
        XCTAssertThrowsError(try CityOSConfig.load(file: file, environment: base)) { error in
            XCTAssertTrue("\(error)".contains("CITYOS_OPS_TOKEN"))
        }
        let env = base.merging(["CITYOS_OPS_TOKEN": "tok-123", "CITYOS_WEBHOOK_SECRET_STRIPE": "whsec_456",
                                "CITYOS_DATABASE_URL": "postgres://app:pw789@db:5432/cityos",
                                // The Redis binding reads a userinfo without a colon as the password.
                                "CITYOS_REDIS_URL": "redis://redispw0@127.0.0.1:6379/0"]) { $1 }
        let config = try CityOSConfig.load(file: nil, environment: env)
        let printed = config.describe().joined(separator: "\n")
        for secret in ["tok-123", "whsec_456", "pw789", "redispw0"] {
            XCTAssertFalse(printed.contains(secret), "\(secret) leaked")
        }
        XCTAssertTrue(printed.contains("redis.url = redis://****@127.0.0.1:6379/0"), printed)
        XCTAssertTrue(printed.contains("database.url = postgres://app:****@db:5432/cityos"), printed)
        XCTAssertEqual(config.webhookSecret("stripe"), "whsec_456")
    }

    func testURLRedactionMasksThePasswordAndKeepsTheRest() {
        let cases = [
            "postgres://app:s3cret@db:5432/cityos": "postgres://app:****@db:5432/cityos",
            "postgres://cityos@db/cityos": "postgres://cityos@db/cityos",    // a user name, no password
            "redis://:s3cret@host:6379/0": "redis://:****@host:6379/0",
            "redis://s3cret@host": "redis://****@host",                       // Redis: the password
            "REDIS://s3cret@host": "REDIS://****@host",
            "unix://:s3cret@/run/redis.sock?db=2": "unix://:****@/run/redis.sock?db=2",
            "redis://user:pa:ss@host:notaport": "redis://user:****@host:notaport",   // does not parse
            "mysql://a:b@c@d/db": "mysql://a:****@d/db",                      // up to the last @
            "redis://127.0.0.1:6379/0": "redis://127.0.0.1:6379/0",
            "user@example.com": "user@example.com",
            "postgres:/app:s3cret@db/x": "postgres:/app:****@db/x",           // a typo keeps its password
            "redis:/:s3cret@h": "redis:/:****@h",
            "postgres:app:s3cret@db": "postgres:app:****@db",
            "redis:s3cret@h": "redis:****@h",
            "": "",
        ]
        for (value, shown) in cases { XCTAssertEqual(URLRedaction.maskingSecret(in: value), shown, value) }
    }

    /// A URL setting mistyped without `//` is refused naming it, without its password.
    func testAMistypedURLIsNamedWithoutItsPassword() {
        for (name, value) in [("CITYOS_DATABASE_URL", "postgres:/app:hunter2@db/x"), ("CITYOS_REDIS_URL", "redis:/:hunter2@h")] {
            var environment = base
            environment[name] = value
            XCTAssertThrowsError(try CityOSConfig.load(file: nil, environment: environment)) { error in
                XCTAssertFalse("\(error)".contains("hunter2"), "\(error)")
                XCTAssertTrue("\(error)".contains(name), "\(error)")
            }
        }
    }

    func testTheInboxRetentionDefaultsTo30DaysAndIsAtLeastOneDay() throws {
        XCTAssertEqual(try CityOSConfig.load(file: nil, environment: base).webhookInboxRetentionDays, 30)
        let file = try write("webhooks:\n  inbox_retention_days: 90\n")
        XCTAssertEqual(try CityOSConfig.load(file: file, environment: base).webhookInboxRetentionDays, 90)
        let env = base.merging(["CITYOS_WEBHOOKS_INBOX_RETENTION_DAYS": "0"]) { $1 }
        XCTAssertThrowsError(try CityOSConfig.load(file: nil, environment: env)) { error in
            XCTAssertEqual("\(error)", "configuration: webhooks.inbox_retention_days (CITYOS_WEBHOOKS_INBOX_RETENTION_DAYS) "
                           + "is '0', expected an integer in 1...3650")
        }
    }

    func testUnknownKeysInTheFileAreErrors() throws {
        let file = try write("redis:\n  urll: redis://x:1/0\n")
        XCTAssertThrowsError(try CityOSConfig.load(file: file, environment: base)) { error in
            XCTAssertTrue("\(error)".contains("redis.urll"))
        }
    }

    /// A file that is not valid YAML is named with where and why, in one line, without quoting
    /// the broken line: it may hold a secret put there by mistake.
    func testAFileThatIsNotYAMLIsNamedWithoutQuotingItsLines() throws {
        for text in ["database:\n\turl: postgres://app:hunter2@db/cityos\n", "ops:\n  token: [hunter2\n"] {
            let file = try write(text)
            XCTAssertThrowsError(try CityOSConfig.load(file: file, environment: base)) { error in
                let message = "\(error)"
                XCTAssertFalse(message.contains("hunter2"), message)
                XCTAssertFalse(message.contains("\n"), message)
                XCTAssertTrue(message.contains("invalid YAML"), message)
                XCTAssertTrue(message.contains(file), message)
            }
        }
    }

    private func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "cityos-config-\(UUID().uuidString).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
