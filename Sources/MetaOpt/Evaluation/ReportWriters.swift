import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes result files so that a reader never sees a half-written file (as
/// `FileIO.replaceDurably` writes a checkpoint: a temporary file in the target's directory,
/// flushed to disk and renamed over the target, then the directory flushed, best effort).
/// Missing parent directories are created. A failed write leaves the old file untouched and no
/// temporary file behind.
package enum ResultFile {
    package static func writeAtomically(_ data: Data, to url: URL) throws {
        try writeAllAtomically([(data, url)])
    }

    /// Writes every file or none of them (an evaluation's report, table and plot belong
    /// together): each into a temporary file beside it, and only when all are written, each
    /// renamed over its target. A failure while writing (a full disk) removes the temporary
    /// files and leaves the targets as they were; only a failing rename, once every byte is on
    /// disk, could leave new files beside old ones.
    package static func writeAllAtomically(_ files: [(data: Data, url: URL)]) throws {
        var staged: [(temporary: String, target: String)] = []
        do {
            for file in files {
                let path = try FileIO.filePath(file.url)
                try createDirectory(of: file.url)
                // A link's target is replaced, not the link (FileIO.writeTarget).
                let target: String
                do { target = try FileIO.writeTarget(path) } catch let error as CheckpointError {
                    throw resultError(error, target: path)
                }
                let temporary = temporaryURL(for: FilePaths.url(target)).path
                do { try FileIO.writeNewFileDurably(temporary, [UInt8](file.data), replacing: target) } catch let error as CheckpointError {
                    throw resultError(error, target: target)  // the file removed
                }
                staged.append((temporary, target))
            }
        } catch {
            for file in staged { try? FileIO.remove(file.temporary) }
            throw error
        }
        for (index, file) in staged.enumerated() {
            do { try FileIO.move(file.temporary, file.target) } catch let error as CheckpointError {
                for rest in staged[index...] { try? FileIO.remove(rest.temporary) }
                throw resultError(error, target: file.target)
            }
        }
        for directory in Set(staged.map { FileIO.parent(of: $0.target) }) { try? FileIO.syncDirectory(directory) }
    }

    private static func createDirectory(of url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            // Foundation says "a file with the same name already exists" without naming it; the
            // start-up check names the file in the way (or the permission missing).
            try FileIO.checkWritable(url.path)
            throw error
        }
    }

    private static func temporaryURL(for url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(FileIO.temporaryName(
            for: url.lastPathComponent, suffix: FileIO.temporarySuffix()))
    }

    /// An I/O failure while writing `target`'s temporary file or renaming it over `target`, named
    /// for the user by `target`: the temporary file is removed by then.
    private static func resultError(_ error: CheckpointError, target: String) -> any Error {
        guard case let .io(operation, code) = error.problem else { return error }
        let what: String
        switch operation {
        case "create", "write", "fsync", "close": what = "cannot write \(target)"
        case _ where operation.hasPrefix("rename"): what = "cannot write \(target) (renaming the new file over it failed)"
        default: what = "cannot \(operation) \(error.file)"
        }
        return ResultFileError.system(what, code)
    }

    /// Checks, before the work that produces the file, that `writeAtomically(_:to:)` will be able
    /// to write `url` (`FileIO.checkWritable`: a regular file or missing, in a writable
    /// directory, with a name that fits); creates nothing.
    package static func checkWritable(_ url: URL) throws {
        try FileIO.checkWritable(FileIO.filePath(url))
    }

    package static func writeAtomically(_ text: String, to url: URL) throws {
        try writeAtomically(Data(text.utf8), to: url)
    }

    /// Removes `url` when it is a regular file: an output that an earlier run wrote into the same
    /// directory and this run does not (it would be read as this run's). Anything else there (a
    /// link, a directory) is left alone. Returns whether a file was removed.
    package static func removeLeftover(_ url: URL) throws -> Bool {
        var st = stat()
        guard lstat(url.path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return false }
        guard unlink(url.path) == 0 else { throw ResultFileError.system("cannot remove \(url.path)", errno) }
        return true
    }
}

package enum ResultFileError: Error, CustomStringConvertible {
    case system(String, Int32)
    package var description: String {
        switch self {
        case let .system(what, code): return "\(what): \(String(cString: strerror(code)))"
        }
    }
}

/// An evaluation report that cannot be read: `"\(path) \(problem)"`.
package struct ReportFileError: Error, CustomStringConvertible, Equatable {
    package var path: String
    package var problem: String
    package var description: String { "\(path) \(problem)" }
}

extension EvaluationReport {
    // MARK: JSON

    /// Non-finite numbers (diverged runs) are written as the strings "Infinity", "-Infinity" and
    /// "NaN" (JSON has no such numbers); keys are sorted so equal reports give equal bytes.
    package static func jsonEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return encoder
    }

    package static func jsonDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return decoder
    }

    /// The full report (curves, tuning with grid scores, summary, definitions) as JSON.
    package func jsonData() throws -> Data {
        var data = try Self.jsonEncoder().encode(self)
        data.append(0x0A)
        return data
    }

    package func writeJSON(to url: URL) throws {
        try ResultFile.writeAtomically(jsonData(), to: url)
    }

    /// Reads a report that `writeJSON(to:)` wrote, checked as far as its readers index it: the
    /// format tag, and the shape `init` requires (`shapeProblem`: at least one curve and one
    /// function, unique names, every curve with `functionCount` rows of `steps` + 1 losses; a
    /// damaged file would otherwise trap in the statistics).
    /// - Throws: `ReportFileError` naming the file and what is wrong with it.
    package static func load(from url: URL) throws -> EvaluationReport {
        let data: Data
        do { data = JSONDiagnosis.utf8(Data(try RegularFile.read(url.path, limit: RegularFile.reportFileLimit))) } catch {
            throw ReportFileError(path: url.path, problem: error.reason)
        }
        let report: EvaluationReport
        do { report = try jsonDecoder().decode(EvaluationReport.self, from: data) } catch {
            // A damaged report of ours, or another file (a metrics.jsonl, an optimizer file)?
            guard data.range(of: Data("\"\(formatTag)\"".utf8)) != nil else {
                throw ReportFileError(path: url.path, problem: notAReport)
            }
            throw ReportFileError(path: url.path, problem: JSONDiagnosis.describe(error, in: data))
        }
        guard report.format == formatTag else { throw ReportFileError(path: url.path, problem: notAReport) }
        if let problem = shapeProblem(steps: report.steps, functionCount: report.functionCount, curves: report.curves) {
            throw ReportFileError(path: url.path, problem: "is malformed: " + report.describe(problem))
        }
        return report
    }

    static let notAReport = "is not an evaluation report of metaopt-dist (expected \"format\": \"\(formatTag)\")"

    /// A shape problem of this (loaded) report in the terms of its JSON fields.
    private func describe(_ problem: ShapeProblem) -> String {
        switch problem {
        case .invalidSteps: return "\"steps\" is \(steps)"
        case .noCurves: return "it has no curves"
        case .noFunctions: return "\"functionCount\" is \(functionCount)"
        case .duplicateName(let name): return "two optimizers' curves are named \"\(name)\""
        case let .wrongFunctionCount(optimizer, functions):
            return "the curves of \(optimizer) have \(functions) functions, not \"functionCount\" \(functionCount)"
        case let .wrongCurveLength(optimizer, function, losses):
            return "function \(function) of \(optimizer) has \(losses) losses, not \"steps\" + 1 = \(steps + 1)"
        }
    }

    // MARK: CSV

    /// Per-step statistics across functions: header `step,optimizer,mean,median,q25,q75`, one row
    /// per optimizer and step (optimizers in evaluation order, steps ascending). Numbers use
    /// Swift's shortest round-trip form; diverged values are `inf`.
    package func statisticsCSV() -> String {
        var out = "step,optimizer,mean,median,q25,q75\n"
        for s in stepStatistics() {
            out += "\(s.step),\(Self.csvField(s.optimizer)),\(Self.number(s.mean)),\(Self.number(s.median)),"
            out += "\(Self.number(s.q25)),\(Self.number(s.q75))\n"
        }
        return out
    }

    package func writeStatisticsCSV(to url: URL) throws {
        try ResultFile.writeAtomically(statisticsCSV(), to: url)
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func number(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        return "\(x)"
    }

    // MARK: Markdown

    /// The summary as a Markdown table (for docs/results.md and stdout), one row per optimizer in
    /// evaluation order, followed by a one-line legend unless `legend` is false.
    package func markdownSummary(legend: Bool = true) -> String {
        let tuned = Dictionary(tuning.map { ($0.optimizer, $0) }, uniquingKeysWith: { a, _ in a })
        var rows = ["| Optimizer | Learning rate | Mean final loss | Median final loss | Won | Diverged |",
                    "|---|---:|---:|---:|---:|---:|"]
        for s in summary {
            var lr = s.learningRate.map { Self.short(Double($0)) } ?? "–"
            if let t = tuned[s.name], t.atGridEdge, t.learningRate == s.learningRate { lr += " (grid edge)" }
            let won = String(format: "%.1f %%", s.winShare * 100)
            rows.append("| \(Self.markdownEscaped(s.name)) | \(lr) | \(Self.short(s.meanFinalLoss)) | "
                        + "\(Self.short(s.medianFinalLoss)) | \(won) | \(s.divergedFunctions)/\(functionCount) |")
        }
        var text = rows.joined(separator: "\n") + "\n"
        if legend {
            text += "\nFinal loss after \(steps) step\(steps == 1 ? "" : "s") on \(functionCount) function\(functionCount == 1 ? "" : "s"). \"Won\": share of functions "
                + "where the optimizer reached the lowest final loss (ties split evenly)."
                + (tuning.isEmpty ? "\n" : " Learning rates of the baselines tuned by grid search on separate training functions.\n")
        }
        return text
    }

    package func writeMarkdownSummary(to url: URL) throws {
        try ResultFile.writeAtomically(markdownSummary(), to: url)
    }

    /// Four significant digits, `inf` for diverged.
    static func short(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        return String(format: "%.4g", x)
    }

    static func markdownEscaped(_ s: String) -> String {
        s.replacingOccurrences(of: "|", with: "\\|")
    }
}
