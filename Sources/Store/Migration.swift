import Crypto
import Foundation

/// One versioned SQL migration: a file `NNNN_name.sql` whose version is `NNNN`.
///
/// A migration is applied once, in its own transaction, and must not contain BEGIN,
/// COMMIT or statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY).
/// Once applied it is never edited: its checksum is recorded and checked at every start.
public struct Migration: Sendable, Equatable {
    /// The number before the first underscore of the file name.
    public var version: Int
    /// The file name, e.g. `0001_core.sql`.
    public var name: String
    /// The file's text.
    public var sql: String
    /// SHA-256 of the file's bytes, lowercase hex.
    public var checksum: String

    /// A migration named `name` (`NNNN_something.sql`) with `sql` as its text.
    public init(name: String, sql: String) throws {
        guard name.hasSuffix(".sql"),
              let underscore = name.firstIndex(of: "_"),
              !name[..<underscore].isEmpty,
              name[..<underscore].allSatisfy(\.isASCII), name[..<underscore].allSatisfy(\.isNumber),
              let version = Int(name[..<underscore])
        else { throw StoreError.invalidMigrationName(name) }
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = Self.sha256Hex(Data(sql.utf8))
    }

    /// SHA-256 of `data`, lowercase hex.
    static func sha256Hex(_ data: Data) -> String {
        SHA256.hash(data: data).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 0x10 ? "0" + hex : hex
        }.joined()
    }
}

extension Migration {
    /// The migrations shipped with the store (`Sources/Store/Migrations`), by version.
    public static func bundled() throws -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw StoreError.migrationsUnavailable(path: "Store.bundle/Migrations", reason: "not in the bundle")
        }
        return try load(from: directory)
    }

    /// Every `*.sql` file in `directory`, by version; other files are ignored.
    /// Throws on a badly named file or two files with one version.
    public static func load(from directory: URL) throws -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw StoreError.migrationsUnavailable(path: directory.path, reason: "\(error.localizedDescription)")
        }
        let migrations = try names.filter { $0.hasSuffix(".sql") }.map { name in
            let file = directory.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: file.path),
                  let text = String(data: data, encoding: .utf8)
            else { throw StoreError.migrationsUnavailable(path: file.path, reason: "not readable as UTF-8") }
            var migration = try Migration(name: name, sql: text)
            migration.checksum = sha256Hex(data)  // the file's exact bytes, BOM and all
            return migration
        }
        return try ordered(migrations)
    }

    /// `migrations` sorted by version; throws if a version appears twice.
    public static func ordered(_ migrations: [Migration]) throws -> [Migration] {
        let sorted = migrations.sorted { ($0.version, $0.name) < ($1.version, $1.name) }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.version == next.version {
            throw StoreError.duplicateMigrationVersion(next.version, names: [previous.name, next.name])
        }
        return sorted
    }
}
