#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a checkpoint could not be written, read or used. `file` names the file (or the directory,
/// or "checkpoint" for an in-memory value); `description` is a complete one-line message
/// (several lines for `noUsableCheckpoint`).
package struct CheckpointError: Error, CustomStringConvertible, Sendable, Equatable {
    package enum Problem: Sendable, Equatable {
        /// The file ends early. `inHeader`: the fixed header itself is incomplete.
        case truncated(expected: Int, actual: Int, inHeader: Bool)
        /// The file does not start with the magic bytes "MOPTCKPT".
        case notACheckpoint
        /// The header is intact (its checksum matches) but written by an unknown format version.
        case unsupportedVersion(UInt32)
        /// The header's own CRC-32C does not match: the header is corrupt.
        case headerChecksumMismatch(stored: UInt32, computed: UInt32)
        /// The payload's CRC-32C does not match the one in the (intact) header: the payload is corrupt.
        case payloadChecksumMismatch(stored: UInt32, computed: UInt32)
        /// More bytes than the header announces.
        case trailingBytes(expected: Int, actual: Int)
        /// An intact header with values this version cannot accept (e.g. unknown flags).
        case invalidHeader(String)
        /// The payload passed its checksum but its structure is invalid (a writer bug).
        case malformedPayload(String)
        /// The metadata JSON could not be decoded into the requested types.
        case invalidMetadata(String)
        /// Steps disagree (file name, header, metadata, or the `step` passed to `write`).
        case stepMismatch(String)
        /// A named tensor is missing, or has another element type than requested.
        case missingTensor(String)
        case wrongTensorType(name: String, expected: TensorElementType, actual: TensorElementType)
        /// A value cannot be encoded (e.g. an empty tensor name).
        case invalidArgument(String)
        /// A system call failed.
        case io(operation: String, errno: Int32)
        /// `loadLatest` found checkpoint files but none could be loaded; one error per file.
        case noUsableCheckpoint([CheckpointError])
    }

    package var file: String
    package var problem: Problem

    package init(file: String, problem: Problem) {
        self.file = file
        self.problem = problem
    }

    /// The reason alone, without the file name.
    package var reason: String {
        switch problem {
        case let .truncated(expected, actual, inHeader):
            return "truncated: expected \(expected) bytes, got \(actual)"
                + (inHeader ? " (the \(CheckpointHeader.size)-byte header is incomplete)" : "")
        case .notACheckpoint:
            return "not a checkpoint (no \"MOPTCKPT\" magic bytes)"
        case let .unsupportedVersion(v):
            return "unsupported format version \(v) (this build reads version \(CheckpointHeader.currentVersion))"
        case let .headerChecksumMismatch(stored, computed):
            return "header checksum mismatch (stored \(hex(stored)), computed \(hex(computed))): corrupt header"
        case let .payloadChecksumMismatch(stored, computed):
            return "payload checksum mismatch (stored \(hex(stored)), computed \(hex(computed))): corrupt payload"
        case let .trailingBytes(expected, actual):
            return "\(actual - expected) unexpected bytes after the payload (expected \(expected) bytes, got \(actual))"
        case let .invalidHeader(m): return "invalid header: \(m)"
        case let .malformedPayload(m): return "malformed payload: \(m)"
        case let .invalidMetadata(m): return "invalid metadata: \(m)"
        case let .stepMismatch(m): return "step mismatch: \(m)"
        case let .missingTensor(name): return "no tensor named \"\(name)\""
        case let .wrongTensorType(name, expected, actual):
            return "tensor \"\(name)\" holds \(actual), not \(expected)"
        case let .invalidArgument(m): return m
        case let .io(operation, e):
            return "\(operation) failed: \(String(cString: strerror(e))) (errno \(e))"
        case let .noUsableCheckpoint(errors):
            return "no usable checkpoint among \(errors.count) file(s):"
                + errors.map { "\n  \($0.file): \($0.reason)" }.joined()
        }
    }

    package var description: String { "\(file): \(reason)" }

    private func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - s.count) + s
    }
}
