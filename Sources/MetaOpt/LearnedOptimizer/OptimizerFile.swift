import Foundation

/// A trained learned optimizer on disk: JSON, versioned, self-describing (docs/optimizer-file.md).
///
/// ```
/// { "format": "metaopt-dist.optimizer", "version": 1,
///   "optimizer": { hiddenSize (two equal layers) or hiddenSizes, preprocessing, outputScale, optimizerCount },
///   "training": { the whole TrainingConfig }, "iteration": N,
///   "tensors": [ { "name": "lstm1.weight", "shape": [22, 80], "offset": 0 }, ... ],
///   "phi": [ ... |φ| floats ... ],
///   "provenance": { "blas": "Cooperlake", "command": [...], "commit": "...", "kernels": "avx512", "version": "0.1.0" } }
/// ```
/// Floats are written with Swift's shortest round-tripping representation, so φ reloads bit for bit.
public struct OptimizerFile: Codable, Equatable, Sendable {
    public static let formatName = "metaopt-dist.optimizer"
    public static let currentVersion = 1

    public struct TensorEntry: Codable, Equatable, Sendable {
        public var name: String
        public var shape: [Int]
        public var offset: Int
    }

    public var format: String
    public var version: Int
    public var optimizer: LearnedOptimizerConfig
    public var training: TrainingConfig?
    public var iteration: Int
    public var tensors: [TensorEntry]
    public var phi: [Float]
    /// The validation score of this φ, in the best-optimizer file of a run with validation
    /// (`train --validate-every`); absent otherwise.
    public var validation: ValidationScore?
    /// The kernel paths of the ranks that trained φ (`KernelCensus`, e.g. "avx512"; after a resume
    /// on other kernels each in turn, "avx512 then portable": `KernelHistory`); they decide φ's
    /// last bits. Absent in files written before kernel paths existed.
    public var kernels: String?
    /// The process that wrote the file (version, commit, command line, kernels). Absent in files
    /// written before provenance existed; not part of what a φ comparison means.
    public var provenance: Provenance?

    /// A file for φ of `optimizer` (its tensor table is derived from the architecture). Traps when
    /// φ does not have `optimizer.architecture.parameterCount` values, a programmer error (φ from a
    /// `MetaTrainer` of that configuration always has).
    public init(optimizer: LearnedOptimizerConfig, phi: [Float], training: TrainingConfig?, iteration: Int,
                validation: ValidationScore? = nil, kernels: String? = nil, provenance: Provenance? = nil) {
        let architecture = optimizer.architecture
        if phi.count != architecture.parameterCount {  // fatalError: its message stays in release builds
            fatalError("OptimizerFile: φ has \(phi.count) values; the architecture needs \(architecture.parameterCount)")
        }
        format = Self.formatName
        version = Self.currentVersion
        self.optimizer = optimizer
        self.training = training
        self.iteration = iteration
        tensors = architecture.tensors.map { TensorEntry(name: $0.name, shape: $0.shape, offset: $0.offset) }
        self.phi = phi
        self.validation = validation
        self.kernels = kernels
        self.provenance = provenance
    }

    /// Writes the file as JSON with sorted keys, atomically (a temporary file beside it, renamed
    /// over it), creating missing directories on the way. Throws `OptimizerFileError`, naming the
    /// path and writing nothing, when `read` would refuse the file (a non-finite φ, an invalid
    /// architecture, a negative iteration), or when `url` is a directory or cannot be written.
    public func write(to url: URL) throws {
        if let problem = contentProblem() {
            throw OptimizerFileError(path: url.path, problem: "was not written: the file would not load again, as it \(problem)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(self)
        do {
            try ResultFile.writeAtomically(data, to: url)
        } catch {
            // The file system's errors are the package's own types, which a caller cannot name.
            throw OptimizerFileError(path: url.path, problem: "was not written: \(error)",
                                     refusalRepeats: FileIO.refusalRepeats(error))
        }
    }

    /// Reads and checks a file: a regular file of at most `RegularFile.optimizerFileLimit` bytes
    /// (never a FIFO or device, read without blocking), format name, no key given twice in one
    /// object, version, an architecture within `SizeLimits` (hiddenSize or hiddenSizes, not both;
    /// ≥ 1 optimizer, hidden sizes > 0, outputScale > 0 and finite), a usable training
    /// configuration, an iteration ≥ 0, and a φ that fits the architecture.
    public static func read(from url: URL) throws -> OptimizerFile {
        let bytes: [UInt8]
        do { bytes = try RegularFile.read(url.path, limit: RegularFile.optimizerFileLimit) } catch {
            throw OptimizerFileError(path: url.path, problem: error.reason)
        }
        // A checkpoint holds φ too, but with the trainer's state in a binary format of its own.
        if bytes.starts(with: CheckpointHeader.magic) {
            throw OptimizerFileError(path: url.path, problem: "is a training checkpoint, not an optimizer file: give the run's optimizer.json or best-optimizer.json (docs/checkpoints.md)")
        }
        let text = JSONDiagnosis.utf8(Data(bytes))
        let transcoded = text.count != bytes.count || !text.elementsEqual(bytes)
        let data = JSONSyntax.zerosSpeltPlainly(text)
        struct Probe: Decodable { var format: String?; var version: Int? }
        let probe: Probe
        do { probe = try JSONDecoder().decode(Probe.self, from: data) } catch {
            // Ours with a bad value (NaN, a number no field can hold), or something else?
            if data.range(of: Data("\"\(formatName)\"".utf8)) != nil {
                throw OptimizerFileError(path: url.path, problem: JSONDiagnosis.describe(error, in: data))
            }
            // Not JSON at all: said so, with where it stops being JSON.
            if (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) == nil {
                throw OptimizerFileError(path: url.path, problem: JSONDiagnosis.describe(error, in: data)
                                         + "; an optimizer file is JSON with \"format\": \"\(formatName)\"")
            }
            throw OptimizerFileError(path: url.path, problem: "is not a metaopt-dist optimizer file (expected \"format\": \"\(formatName)\")")
        }
        guard probe.format == formatName else {
            // The export holds φ for other programs, without the training configuration.
            if probe.format == ExportedOptimizer.formatName {
                throw OptimizerFileError(path: url.path, problem: "is an export (\"format\": \"\(ExportedOptimizer.formatName)\"), which only other programs read; give the optimizer file it was exported from")
            }
            throw OptimizerFileError(path: url.path, problem: "is not a metaopt-dist optimizer file (expected \"format\": \"\(formatName)\")")
        }
        // Foundation's readers take a comma before ']' and skip the values of keys they do not
        // decode (bytes that are not UTF-8 too); Python's json refuses all of them.
        if let problem = JSONDiagnosis.strictSyntaxProblem(in: data, transcoded: transcoded) {
            throw OptimizerFileError(path: url.path, problem: problem)
        }
        // Before any value is used: Python's reader would keep the other of two values.
        if let key = JSONDiagnosis.duplicateKeys(in: data).first {
            throw OptimizerFileError(path: url.path,
                                     problem: "gives '\(key.joined(separator: "."))' more than once in one object; give each key once (JSON readers keep one of the values silently, and not all the same one)")
        }
        guard probe.version == currentVersion else {
            throw OptimizerFileError(path: url.path,
                                     problem: "has format version \(probe.version.map(String.init) ?? "none"); this build reads version \(currentVersion)")
        }
        let file: OptimizerFile
        do { file = try JSONDecoder().decode(OptimizerFile.self, from: data) } catch {
            throw OptimizerFileError(path: url.path, problem: JSONDiagnosis.describe(error, in: data))
        }
        if let problem = file.contentProblem() { throw OptimizerFileError(path: url.path, problem: problem) }
        return file
    }

    /// What `read` refuses in a decoded file (nil: nothing): `write` refuses it too, so that no
    /// program saves an optimizer it cannot load again.
    func contentProblem() -> String? {
        if let problem = optimizer.problems().first { return "states no valid architecture: \(problem)" }
        if let training, let problem = training.problems().first {
            return "holds an unusable training configuration: \(problem)"
        }
        guard iteration >= 0 else { return "states iteration \(iteration); the meta-iteration φ was saved at is 0 or more" }
        let count = optimizer.architecture.parameterCount
        guard phi.count == count else { return "holds \(phi.count) parameters, but its architecture needs \(count)" }
        if let index = phi.firstIndex(where: { !$0.isFinite }) {
            return "holds non-finite parameters (φ[\(index)] = \(phi[index]))"
        }
        return nil
    }

    /// φ as named tensors for other tools (`metaopt-dist export`): each a shape and its values, flat in
    /// row-major order.
    public func exported() -> ExportedOptimizer {
        var named: [String: ExportedOptimizer.Tensor] = [:]
        for t in optimizer.architecture.tensors {
            named[t.name] = ExportedOptimizer.Tensor(shape: t.shape, values: Array(phi[t.range]))
        }
        return ExportedOptimizer(optimizer: optimizer, tensors: named, kernels: kernels, provenance: provenance)
    }
}

/// The export format: every tensor by name with its shape and row-major values.
public struct ExportedOptimizer: Codable, Equatable, Sendable {
    public struct Tensor: Codable, Equatable, Sendable {
        public var shape: [Int]
        public var values: [Float]
    }
    package static let formatName = "metaopt-dist.optimizer-export"
    public var format = ExportedOptimizer.formatName
    public var version = 1
    /// The maths the tensors take part in, in words (`convention(for:)`).
    public var convention: String
    public var optimizer: LearnedOptimizerConfig
    public var tensors: [String: Tensor]
    /// The kernel paths φ was trained on (from the optimizer file), when known.
    public var kernels: String?
    /// The provenance of the optimizer file (the process that trained φ), when it has one.
    public var provenance: Provenance?

    public init(optimizer: LearnedOptimizerConfig, tensors: [String: Tensor], kernels: String?,
                provenance: Provenance? = nil) {
        convention = Self.convention(for: optimizer)
        self.optimizer = optimizer
        self.tensors = tensors
        self.kernels = kernels
        self.provenance = provenance
    }

    /// The convention of a stack of `optimizer.hiddenSizes.count` LSTM layers (for two layers, the
    /// text of the files written before the depth could change).
    public static func convention(for optimizer: LearnedOptimizerConfig) -> String {
        let k = optimizer.hiddenSizes.count
        let deeper: String
        switch k {
        case 1: deeper = ""
        case 2: deeper = "layer 2 likewise on [h1, h2]; "
        default: deeper = "layers 2 to \(k) likewise, layer k on [h(k-1), hk]; "
        }
        return "Coordinatewise \(k)-layer LSTM. Per coordinate: x = preprocess(gradient); "
            + "z1 = [x, h1] · lstm1.weight + lstm1.bias (row vector times ((inputs + H) × 4H) matrix); "
            + "gate columns in the order i, f, g, o; i, f, o = sigmoid, g = tanh; c1 = f*c1 + i*g; h1 = o*tanh(c1); "
            + deeper
            + "update = outputScale * (h\(k) · output.weight + output.bias); theta += update. "
            + "No constant is added to the forget gate: its +1 is part of the stored bias."
    }
}

/// An optimizer file that cannot be read or used: `"\(path) \(problem)"`, the problem in words
/// that name the field (`OptimizerFile.read`).
public struct OptimizerFileError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var problem: String
    /// A write refused for a reason a restart would meet again (`FileIO.refusalRepeats` of the
    /// file system's error: a directory in the file's place, no permission).
    package var refusalRepeats = false
    public var description: String { "\(path) \(problem)" }
}

extension LearnedOptimizerConfig {
    /// What makes this architecture unusable, as sentences (empty: usable): checked before |φ| is
    /// computed from it, so that a file's sizes cannot overflow or exhaust memory. Check a
    /// configuration of your own with it before `LearnedOptimizer(config:phi:)`, which traps.
    public func problems() -> [String] {
        var p: [String] = []
        if hiddenSizes.isEmpty { p.append("the learned optimizer needs at least one LSTM layer") }
        if hiddenSizes.contains(where: { $0 < 1 }) { p.append("hidden sizes must be positive (got \(hiddenSizes))") }
        if let problem = SizeLimits.problem("the number of LSTM layers", hiddenSizes.count, limit: SizeLimits.layers) { p.append(problem) }
        if let h = hiddenSizes.max(), let problem = SizeLimits.problem("the hidden size", h, limit: SizeLimits.hiddenSize) { p.append(problem) }
        if optimizerCount < 1 { p.append("optimizerCount must be at least 1 (got \(optimizerCount))") }
        if let problem = SizeLimits.problem("optimizerCount", optimizerCount, limit: SizeLimits.optimizerCount) { p.append(problem) }
        if !(outputScale > 0 && outputScale.isFinite) { p.append("outputScale must be positive and finite (got \(outputScale))") }
        if let problem = SizeLimits.floatRangeProblem("outputScale", outputScale) ?? SizeLimits.underflowProblem("outputScale", outputScale) {
            p.append(problem)
        }
        if case .logAndSign(let c) = preprocessing {
            if !(c > 0 && c.isFinite) { p.append("the preprocessing constant p must be positive and finite (got \(c))") }
            if let problem = SizeLimits.floatRangeProblem("the preprocessing constant p", c)
                ?? SizeLimits.underflowProblem("the preprocessing constant p", c) {
                p.append(problem)
            } else if c > 0 && c.isFinite && !Float(Foundation.exp(c)).isFinite {
                // The Float engine scales a gradient below the cut by e^p (Preprocessing.swift): a
                // zero gradient's input would be ∞ · 0 = NaN.
                p.append("the preprocessing constant p must be at most \(Self.largestP) (e^p must be finite as a 32-bit float; got \(c))")
            } else if c > 0 && c < Self.smallestP {
                // log|g| / p overflowed for large gradients: every step's input was infinite.
                p.append("the preprocessing constant p must be at least \(Self.smallestP) (log|g| / p must be finite as a 32-bit float for every gradient; got \(c))")
            }
        }
        return p
    }

    /// The largest p of eight decimals whose e^p rounds to a finite 32-bit float (every p up to
    /// it does, 88.72283909 no longer): the refusal states the exact bound.
    static let largestP = 88.72283908

    /// The smallest p: log|g| / p stays finite as a 32-bit float for every finite gradient down to
    /// ln(Float.greatestFiniteMagnitude) / Float.greatestFiniteMagnitude ≈ 2.6e-37; 1e-36 leaves
    /// room for the kernels' rounding.
    static let smallestP = 1e-36
}
