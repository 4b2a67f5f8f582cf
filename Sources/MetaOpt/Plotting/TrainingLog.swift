import Foundation

/// The logs `train` writes into a run directory, read back for plotting: RUN_DIR/metrics.jsonl
/// (one line per meta-step) and, when present, RUN_DIR/validation.jsonl (one line per validation).
///
/// Reading is strict, so that a wrong file is not plotted as if it were right: every line must be
/// a JSON object with a whole-number `iteration` ≥ 0 and a `meta_loss` (metrics) or
/// `mean_final_loss` (validation) that is a number or null, and the other known fields must have
/// their types, else the error names the file, the line and what is wrong. Two exceptions: blank lines are skipped, and a last line
/// without its newline that does not parse is left out, since `train` may be writing it right now.
/// `null` stands for a non-finite value (a skipped step, a diverged validation).
package struct TrainingLog: Sendable, Equatable {
    /// One metrics.jsonl line (written as a `MetricsLine`); nil for a value that is `null` or
    /// absent (older files lack some). Decoding checks what the type's documentation says.
    package struct Step: Sendable, Equatable, Decodable, LoggedIteration {
        package var iteration: Int
        package var truncation: Int?
        package var metaLoss: Double?
        package var gradientNorm: Double?
        package var skipped: Bool
        package var computeMax: Double?
        package var computeMean: Double?
        package var computeMin: Double?
        package var wait: Double?
        package var allreduce: Double?
        /// Seconds of the Adam step and bookkeeping after the allreduce.
        package var update: Double?
        package var elapsed: Double?
        /// Present on the first line a process writes (a fresh start or a resume), whose elapsed
        /// time counts from that process's start; only its presence is read.
        package var provenance: Present?
    }

    /// A value whose presence is all that is read (any JSON value).
    package struct Present: Sendable, Equatable, Decodable {
        package init() {}
        package init(from decoder: any Decoder) throws {}
    }

    /// One validation.jsonl line (written as a `ValidationLine`).
    package struct Validation: Sendable, Equatable, Decodable, LoggedIteration {
        package var iteration: Int
        /// Mean final loss on the validation functions; nil when non-finite (diverged).
        package var meanFinalLoss: Double?
        /// Whether it was the best score so far when written.
        package var best: Bool
    }

    /// What the run is called in legends: the run directory's name.
    package var name: String
    package var steps: [Step]
    /// nil when the run has no validation.jsonl (trained without --validate-every).
    package var validation: [Validation]?

    package init(name: String, steps: [Step], validation: [Validation]?) {
        self.name = name
        self.steps = steps
        self.validation = validation
    }

    /// Reads RUN_DIR/metrics.jsonl and, if it exists, RUN_DIR/validation.jsonl.
    package static func load(runDirectory: URL, name: String? = nil) throws -> TrainingLog {
        let run = RunDirectory(runDirectory)
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: runDirectory.path, isDirectory: &isDirectory) else {
            let problem = FileIO.lookupFailure(runDirectory.path).map { "cannot be read (\($0))" } ?? "no such directory"
            throw TrainingLogError(path: runDirectory.path, line: nil, problem: problem)
        }
        guard isDirectory.boolValue else {
            throw TrainingLogError(path: runDirectory.path, line: nil,
                                   problem: "is a file, not a run directory of `train` (for an evaluation's report.json: plot --evaluations)",
                                   notALog: true)
        }
        guard let metrics = try read(run.metrics) else {
            throw TrainingLogError(path: run.metrics.path, line: nil, problem: "no such file (is \(runDirectory.path) a run directory of `train`?)")
        }
        let steps = try parseMetrics(metrics, source: run.metrics.path)
        let validation = try read(run.validationLog).map { try parseValidation($0, source: run.validationLog.path) }
        return TrainingLog(name: name ?? runDirectory.standardizedFileURL.lastPathComponent, steps: steps, validation: validation)
    }

    /// Largest log read: a quarter of the memory the process may use (the machine's, or its
    /// cgroup's where less; reading holds the file twice and its decoded meta-steps: a 1.31 GB log
    /// peaked at 2.6 GB), but at least 1 GiB. The live plot reads on with no limit, and a log
    /// grows about 410 bytes a meta-step: 1 GiB, the limit until `train` was seen to write past
    /// it, is some hours of the default job.
    static var fileLimit: Int {
        max(1 << 30, Int(min(CgroupMemory.usable / 4, UInt64(Int.max))))
    }

    /// A log's bytes, nil when there is no file (`RegularFile.read`: a FIFO is not waited on). A
    /// directory, FIFO or device in its place is bad input (status 65), a failed read is not.
    static func read(_ url: URL) throws -> Data? {
        do {
            return Data(try RegularFile.read(url.path, limit: fileLimit))
        } catch {
            switch error {
            case .missing: return nil
            case .isDirectory, .notRegular, .tooLarge:
                throw TrainingLogError(path: url.path, line: nil, problem: error.reason, notALog: true)
            case .system: throw TrainingLogError(path: url.path, line: nil, problem: error.reason)
            }
        }
    }

    /// The meta-steps of a metrics.jsonl file's contents; `source` names it in errors, in which
    /// the data's first line is line `firstLine` (a later part of a file).
    /// `train` writes meta-steps in order (a resume drops the lines past its checkpoint first), so
    /// a meta-step that goes back is refused: two logs joined would be drawn as one run.
    package static func parseMetrics(_ data: Data, source: String, firstLine: Int = 1) throws -> [Step] {
        let numbered = try lines(in: data, source: source, firstLine: firstLine, as: Step.self)
        for (previous, next) in zip(numbered, numbered.dropFirst()) where next.value.iteration <= previous.value.iteration {
            throw TrainingLogError(path: source, line: next.line, problem: "meta-step \(next.value.iteration) after meta-step "
                                   + "\(previous.value.iteration) (line \(previous.line)): `train` writes them in order; two logs joined?")
        }
        return numbered.map(\.value)
    }

    /// The validations of a validation.jsonl file's contents; `source` names it in errors.
    package static func parseValidation(_ data: Data, source: String) throws -> [Validation] {
        try lines(in: data, source: source, firstLine: 1, as: Validation.self).map(\.value)
    }

    /// The decoded lines of a JSON-lines file with their line numbers (see the type's
    /// documentation for what is skipped).
    static func lines<Line: Decodable>(in data: Data, source: String, firstLine: Int, as: Line.Type) throws -> [(line: Int, value: Line)] {
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let complete = data.last == UInt8(ascii: "\n")
        let decoder = JSONDecoder()
        var result: [(line: Int, value: Line)] = []
        for (index, line) in lines.enumerated() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            do {
                result.append((firstLine + index, try decoder.decode(Line.self, from: Data(line))))
            } catch let error as DecodingError {
                if index == lines.count - 1 && !complete { continue }  // being written by `train` right now
                throw TrainingLogError(path: source, line: firstLine + index, problem: problem(error, line: line))
            }
        }
        return result
    }

    static func problem(_ error: DecodingError, line: Data.SubSequence) -> String {
        func key(_ path: [any CodingKey]) -> String { path.last.map { "\"\($0.stringValue)\"" } ?? "the line" }
        switch error {
        case .keyNotFound(let k, _):
            return "no \"\(k.stringValue)\" (not a line that `train` writes)"
        case .typeMismatch(let type, let context):
            let name = key(context.codingPath)
            if name == "\"iteration\"" { return "\(name) is not a whole number ≥ 0" }
            return "\(name) is not \(type == Bool.self ? "true or false" : type == [String: Any].self ? "a JSON object" : "a number or null")"
        case .valueNotFound(_, let context):
            return "\(key(context.codingPath)) is null"
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            return "\(key(context.codingPath)) \(context.debugDescription)"
        default:
            // A syntax error after a key (a NaN written as a number) is named by that key, with the
            // NaN hint where it fits; a number past a Double's range still reads as invalid JSON.
            let diagnosis = JSONDiagnosis.describe(error, in: Data(line))
            if diagnosis.contains(" near \"") { return String(diagnosis.drop { $0 != " " }.dropFirst()) }
            let text = String(decoding: line, as: UTF8.self)
            return "not valid JSON: " + (text.count > 60 ? String(text.prefix(60)) + "…" : text)
        }
    }

    fileprivate enum Key: String, CodingKey {
        case iteration, truncation, metaLoss = "meta_loss", gradientNorm = "gradient_norm", skipped
        case computeMax = "compute_max", computeMean = "compute_mean", computeMin = "compute_min"
        case wait, allreduce, update, elapsed, meanFinalLoss = "mean_final_loss", best, provenance
    }

    /// A whole number ≥ 0 (nil when absent or null, except for `iteration`, which must be there).
    fileprivate static func wholeNumber(_ c: KeyedDecodingContainer<Key>, _ key: Key) throws -> Int? {
        let value = key == .iteration ? try c.decode(Double.self, forKey: key) : try c.decodeIfPresent(Double.self, forKey: key)
        guard let value else { return nil }
        guard value >= 0, let whole = Int(exactly: value) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "must be a whole number ≥ 0")
        }
        return whole
    }
}

extension TrainingLog.Step {
    /// A metrics.jsonl line: `iteration` and `meta_loss` (a number or null) must be there.
    package init(from decoder: any Decoder) throws {
        typealias Key = TrainingLog.Key
        let c = try decoder.container(keyedBy: Key.self)
        let iteration = try TrainingLog.wholeNumber(c, .iteration)!
        guard c.contains(.metaLoss) else {
            throw DecodingError.keyNotFound(Key.metaLoss, .init(codingPath: [], debugDescription: ""))
        }
        func number(_ k: Key) throws -> Double? { try c.decodeIfPresent(Double.self, forKey: k) }
        self.init(iteration: iteration, truncation: try TrainingLog.wholeNumber(c, .truncation),
                  metaLoss: try number(.metaLoss), gradientNorm: try number(.gradientNorm),
                  skipped: try c.decodeIfPresent(Bool.self, forKey: .skipped) ?? false,
                  computeMax: try number(.computeMax), computeMean: try number(.computeMean),
                  computeMin: try number(.computeMin), wait: try number(.wait), allreduce: try number(.allreduce),
                  update: try number(.update), elapsed: try number(.elapsed),
                  // It was never read (no key): a resumed run's first step counted as a step time.
                  provenance: c.contains(.provenance) ? TrainingLog.Present() : nil)
    }
}

extension TrainingLog.Validation {
    /// A validation.jsonl line: `iteration` and `mean_final_loss` (a number or null) must be there.
    package init(from decoder: any Decoder) throws {
        typealias Key = TrainingLog.Key
        let c = try decoder.container(keyedBy: Key.self)
        let iteration = try TrainingLog.wholeNumber(c, .iteration)!
        guard c.contains(.meanFinalLoss) else {
            throw DecodingError.keyNotFound(Key.meanFinalLoss, .init(codingPath: [], debugDescription: ""))
        }
        self.init(iteration: iteration, meanFinalLoss: try c.decodeIfPresent(Double.self, forKey: .meanFinalLoss),
                  best: try c.decodeIfPresent(Bool.self, forKey: .best) ?? false)
    }
}

/// A log line that belongs to one meta-step (`MetricsLog.truncate` drops those at or after a
/// resume point).
protocol LoggedIteration {
    var iteration: Int { get }
}

/// A run directory's log that cannot be read: the file, the line (from 1) and what is wrong.
package struct TrainingLogError: Error, CustomStringConvertible, Equatable {
    package var path: String
    package var line: Int?
    package var problem: String
    /// A directory, FIFO, device or oversized file where the log should be.
    package var notALog = false
    package var description: String { "\(path)\(line.map { ":\($0)" } ?? ""): \(problem)" }
    /// Whether the log is there but is no log (status 65): a line that does not parse, or no
    /// regular file in its place; a missing or unreadable file may read the next time.
    package var isBadInput: Bool { line != nil || notALog }
}

extension TrainingLog {
    /// Legend names for run directories: each directory's name, or as many trailing path
    /// components as it takes to tell apart runs whose directories have the same name
    /// (a/run, b/run → a/run, b/run).
    package static func displayNames(_ directories: [URL]) -> [String] {
        let parts = directories.map { $0.standardizedFileURL.pathComponents.filter { $0 != "/" } }
        var depth = 1
        while true {
            let names = parts.map { $0.suffix(depth).joined(separator: "/") }
            if Set(names).count == names.count || depth >= (parts.map(\.count).max() ?? 1) { return names }
            depth += 1
        }
    }
}
