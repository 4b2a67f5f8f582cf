import Foundation
import XCTest

/// Comparing what runs wrote, apart from which process wrote it: the provenance (command line,
/// commit) differs between runs whose results must be identical (other run directories, a resumed
/// run's command), so these take it out of the bytes and leave everything else as written.
enum ProvenanceSupport {
    /// The JSON text `json` without its top-level member `key` (and one comma next to it), byte for
    /// byte otherwise; unchanged when there is no such member.
    static func removingMember(_ key: String, from json: Data) -> Data {
        let bytes = [UInt8](json)
        let pattern = [UInt8]("\"\(key)\"".utf8)
        var depth = 0, inString = false, escaped = false, index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                index += 1
                continue
            }
            if depth == 1 && bytes[index...].starts(with: pattern) {
                // The member's value: skip blanks and the colon, then one JSON value.
                var end = index + pattern.count
                while end < bytes.count && (bytes[end] == UInt8(ascii: " ") || bytes[end] == UInt8(ascii: ":")) { end += 1 }
                end = endOfValue(bytes, from: end)
                var start = index
                // Take the comma before the member (or after it, when it is the first).
                var before = start - 1
                while before >= 0 && isBlank(bytes[before]) { before -= 1 }
                if before >= 0 && bytes[before] == UInt8(ascii: ",") {
                    start = before
                } else {
                    while end < bytes.count && isBlank(bytes[end]) { end += 1 }
                    if end < bytes.count && bytes[end] == UInt8(ascii: ",") { end += 1 }
                }
                return Data(bytes[..<start] + bytes[end...])
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
            index += 1
        }
        return json
    }

    private static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    /// The index after the JSON value that starts at `start`.
    private static func endOfValue(_ bytes: [UInt8], from start: Int) -> Int {
        var depth = 0, inString = false, escaped = false, index = start
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    if depth == 0 { return index + 1 }
                }
            } else {
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return index + 1 }
                    if depth < 0 { return index }
                case UInt8(ascii: ","): if depth == 0 { return index }
                default: break
                }
            }
            index += 1
        }
        return index
    }

    /// An optimizer file's bytes without its "provenance" member.
    static func optimizerFileWithoutProvenance(_ data: Data) -> Data { removingMember("provenance", from: data) }

    /// A checkpoint file (docs/checkpoints.md, format 1) split into what must match between runs:
    /// the header's meta-step, the metadata JSON without its "notes" (the writer's provenance) and
    /// every tensor record byte for byte (φ, Adam moments). The header's checksums and lengths
    /// cover the notes, so they are left out.
    struct CheckpointContents: Equatable {
        var metaStep: UInt64
        var metadataWithoutNotes: Data
        var tensorRecords: Data
        /// The metadata's "notes", decoded.
        var notes: [String: String]
    }

    static func checkpointContents(_ bytes: Data) throws -> CheckpointContents {
        let b = [UInt8](bytes)
        func u32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(b[at + $1]) << (8 * $1) } }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) } }
        func padded(_ n: Int) -> Int { (n + 7) / 8 * 8 }
        guard b.count >= 80, b.starts(with: Array("MOPTCKPT".utf8)) else {
            throw MPIJobError(description: "not a checkpoint file")
        }
        // The first record (after the 64-byte header and the 8-byte record count) is the metadata.
        let record = 72
        let (kind, nameLength, rank, count) = (u32(record), u32(record + 4), u32(record + 8), Int(u64(record + 16)))
        guard kind == 1 else { throw MPIJobError(description: "the first record is not the metadata") }
        let dataStart = record + 24 + 8 * rank + padded(nameLength)
        let json = Data(b[dataStart ..< dataStart + count])
        let object = try JSONSerialization.jsonObject(with: json) as? [String: Any]
        return CheckpointContents(metaStep: u64(24), metadataWithoutNotes: removingMember("notes", from: json),
                                  tensorRecords: Data(b[(dataStart + padded(count))...]),
                                  notes: object?["notes"] as? [String: String] ?? [:])
    }
}
