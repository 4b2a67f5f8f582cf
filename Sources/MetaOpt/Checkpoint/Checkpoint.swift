import Foundation

/// The JSON metadata of a checkpoint: the caller's configuration (any `Codable` value, stored under
/// the key "configuration") and the counters a run needs to continue exactly.
package struct CheckpointMetadata<Configuration: Codable>: Codable {
    /// Meta-steps (Adam steps on φ) completed when the checkpoint was taken. Also in the header
    /// and the file name; all three must agree.
    package var metaStep: Int
    /// The run seed.
    package var seed: UInt64
    /// Global meta-batch size B (functions per meta-step over all ranks).
    package var globalMetaBatchSize: Int
    /// Meta-steps or tasks skipped so far, by reason (e.g. "nonFiniteMetaGradient").
    package var skipCounters: [String: Int]
    /// Any other integer state the caller needs to resume (horizon index, truncation within the
    /// horizon, ...).
    package var counters: [String: Int]
    /// Free-form text (command line, source revision, creation time, ...).
    package var notes: [String: String]
    /// A human-readable description of the file format, written by this library.
    package var formatNotes: String
    package var configuration: Configuration

    package init(metaStep: Int, seed: UInt64, globalMetaBatchSize: Int, configuration: Configuration,
                skipCounters: [String: Int] = [:], counters: [String: Int] = [:],
                notes: [String: String] = [:]) {
        self.metaStep = metaStep
        self.seed = seed
        self.globalMetaBatchSize = globalMetaBatchSize
        self.configuration = configuration
        self.skipCounters = skipCounters
        self.counters = counters
        self.notes = notes
        self.formatNotes = CheckpointMetadata.defaultFormatNotes
    }

    package static var defaultFormatNotes: String {
        "metaopt-dist checkpoint format \(CheckpointHeader.currentVersion): 64-byte header, then a "
            + "payload of records; all integers little-endian; tensors are raw little-endian IEEE-754 "
            + "Float32/Float64 or two's-complement Int64, stored bit-exactly, row-major; "
            + "CRC-32C checksums of header and payload. See docs/checkpoints.md."
    }
}

extension CheckpointMetadata: Sendable where Configuration: Sendable {}
extension CheckpointMetadata: Equatable where Configuration: Equatable {}

/// Everything needed to continue a run: metadata (JSON) and named arrays stored bit-exactly
/// (by convention "phi", "adam.m", "adam.v", "adam.t"; the caller chooses, see docs/checkpoints.md).
package struct Checkpoint<Configuration: Codable> {
    package var metadata: CheckpointMetadata<Configuration>
    package var tensors: [String: TensorData]

    package init(metadata: CheckpointMetadata<Configuration>, tensors: [String: TensorData] = [:]) {
        self.metadata = metadata
        self.tensors = tensors
    }

    /// The complete file (header and payload). Deterministic: equal checkpoints give equal bytes.
    /// Throws if the metadata cannot be encoded as JSON or a tensor name is empty or too long.
    package func encode() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let json: Data
        do {
            json = try encoder.encode(metadata)
        } catch {
            throw CheckpointError(file: "checkpoint", problem: .invalidArgument("metadata cannot be encoded as JSON: \(error)"))
        }
        return try RawCheckpoint(step: metadata.metaStep, metadataJSON: Array(json), tensors: tensors).encode()
    }

    /// Verifies and decodes a complete file; `source` names it in errors (usually its path).
    /// Throws `CheckpointError` for a truncated, corrupt or foreign file, an unsupported version,
    /// metadata that does not decode as `CheckpointMetadata<Configuration>`, or a header step that
    /// differs from the metadata's `metaStep`.
    package static func decode(_ bytes: [UInt8], source: String) throws -> Checkpoint {
        try Checkpoint(raw: RawCheckpoint.decode(bytes, source: source), source: source)
    }

    /// Decodes the metadata of an already verified file.
    package init(raw: RawCheckpoint, source: String) throws {
        let metadata: CheckpointMetadata<Configuration>
        do {
            metadata = try JSONDecoder().decode(CheckpointMetadata<Configuration>.self, from: Data(raw.metadataJSON))
        } catch {
            throw CheckpointError(file: source, problem: .invalidMetadata(String(describing: error)))
        }
        guard metadata.metaStep == raw.step else {
            throw CheckpointError(file: source, problem: .stepMismatch(
                "header says step \(raw.step), metadata says \(metadata.metaStep)"))
        }
        let unknown = Self.unknownKeys(in: raw.metadataJSON, decodedAs: metadata)
        guard unknown.isEmpty else {
            let shown = unknown.prefix(5).joined(separator: ", ") + (unknown.count > 5 ? " and \(unknown.count - 5) more" : "")
            throw CheckpointError(file: source, problem: .invalidMetadata(
                "holds settings this build of metaopt-dist does not know (\(shown)): written by a newer build? "
                + "It would resume on another trajectory without them; resume with the build that wrote it (its notes name the commit)"))
        }
        self.init(metadata: metadata, tensors: raw.tensors)
    }

    /// Keys of the stored metadata that `metadata`, decoded from it, does not write again: settings
    /// of a build that knows more, which the decoder passed over (a newer build's checkpoint, read
    /// by an older one, resumed on another trajectory, labelled with a configuration without
    /// them). As dotted paths ("configuration.initialScaling"), sorted. A key whose value is null
    /// is no setting, and `legacyKeys` are read and deliberately not written again.
    static func unknownKeys(in json: [UInt8], decodedAs metadata: CheckpointMetadata<Configuration>) -> [String] {
        guard let stored = try? JSONSerialization.jsonObject(with: Data(json)),
              let again = try? JSONSerialization.jsonObject(with: JSONEncoder().encode(metadata)) else { return [] }
        var unknown: [String] = []
        func compare(_ stored: Any, _ again: Any, _ path: String) {
            if let object = stored as? [String: Any] {
                let written = again as? [String: Any] ?? [:]
                for (key, value) in object where !(value is NSNull) {
                    let inner = path.isEmpty ? key : path + "." + key
                    if let counterpart = written[key] {
                        compare(value, counterpart, inner)
                    } else if !legacyKeys.contains(key) {
                        unknown.append(inner)
                    }
                }
            } else if let array = stored as? [Any], let written = again as? [Any], array.count == written.count {
                for (index, element) in array.enumerated() { compare(element, written[index], "\(path)[\(index)]") }
            }
        }
        compare(stored, again, "")
        return unknown.sorted()
    }

    /// Keys that this build reads from earlier checkpoints and does not write again: an image
    /// task's `directory` when it is Fashion-MNIST's standard location (`ImageTaskSpec`).
    static var legacyKeys: Set<String> { ["directory"] }

    /// The tensor `name`; throws `missingTensor` if there is none.
    package func tensor(_ name: String) throws -> TensorData {
        guard let t = tensors[name] else {
            throw CheckpointError(file: "checkpoint at step \(metadata.metaStep)", problem: .missingTensor(name))
        }
        return t
    }

    /// The values of the Float32 tensor `name`; throws if it is missing or of another type.
    package func float32(_ name: String) throws -> [Float] {
        let t = try tensor(name)
        guard let v = t.float32Values else { throw wrongType(name, .float32, t.elementType) }
        return v
    }

    /// The values of the Float64 tensor `name`; throws if it is missing or of another type.
    package func float64(_ name: String) throws -> [Double] {
        let t = try tensor(name)
        guard let v = t.float64Values else { throw wrongType(name, .float64, t.elementType) }
        return v
    }

    /// The values of the Int64 tensor `name`; throws if it is missing or of another type.
    package func int64(_ name: String) throws -> [Int64] {
        let t = try tensor(name)
        guard let v = t.int64Values else { throw wrongType(name, .int64, t.elementType) }
        return v
    }

    private func wrongType(_ name: String, _ expected: TensorElementType, _ actual: TensorElementType) -> CheckpointError {
        CheckpointError(file: "checkpoint at step \(metadata.metaStep)",
                        problem: .wrongTensorType(name: name, expected: expected, actual: actual))
    }
}

extension Checkpoint: Sendable where Configuration: Sendable {}
extension Checkpoint: Equatable where Configuration: Equatable {}
