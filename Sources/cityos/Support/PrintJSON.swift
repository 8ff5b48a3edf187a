import Foundation

/// Prints `value` as one line of JSON with sorted keys: what a benchmark's `--json` prints, for
/// scripts to read.
func printJSONLine(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
