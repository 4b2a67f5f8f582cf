import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
        let rows = stepStatistics()
        var out = "step,optimizer,mean,median,q25,q75\n"
        out.reserveCapacity(out.utf8.count + rows.count * Self.csvRowBytes)
        for s in rows {
            out += "\(s.step),\(Self.csvField(s.optimizer)),\(Self.number(s.mean)),\(Self.number(s.median)),"
            out += "\(Self.number(s.q25)),\(Self.number(s.q75))\n"
        }
        return out
    }

    /// Room for one row of `statisticsCSV`: four numbers of up to 24 characters, the step, an
    /// optimizer's name and the separators.
    static let csvRowBytes = 128

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

    /// For each learned optimizer (a curve without a learning rate), the baseline with the lowest
    /// mean final loss (then median) function by function: on how many functions its final loss
    /// is lower, and the mean of the differences with its standard error. The table's means and
    /// medians say which is ahead, not whether the lead is larger than the spread between functions.
    var pairedComparisons: String {
        let baselines = summary.filter { $0.learningRate != nil }
        guard let best = baselines.min(by: { ($0.meanFinalLoss, $0.medianFinalLoss) < ($1.meanFinalLoss, $1.medianFinalLoss) }),
              let bestCurve = curves.first(where: { $0.name == best.name }) else { return "" }
        var lines = ""
        for learned in curves where learned.learningRate == nil {
            let finals = zip(learned.losses, bestCurve.losses).map { (Double($0[steps]), Double($1[steps])) }
            let lower = finals.filter { $0.0 < $0.1 }.count
            let differences = finals.map { $0.0 - $0.1 }
            let n = Double(differences.count)
            var difference = "not finite (a run diverged)"
            if differences.allSatisfy(\.isFinite) {
                let mean = differences.reduce(0, +) / n
                difference = Self.short(mean)
                // One function has no spread to estimate it from.
                if n > 1 {
                    let variance = differences.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
                    difference += " ± \(Self.short((variance / n).squareRoot())) (standard error over the functions)"
                }
            }
            // Every baseline's mean infinite (a run of each diverged): the median chose, if any.
            let chosen = baselines.count == 1 ? "the only baseline"
                : best.meanFinalLoss.isFinite ? "the baseline with the lowest mean final loss"
                : best.medianFinalLoss.isFinite ? "the baseline with the lowest median final loss (every baseline's mean is infinite: runs diverged)"
                : "the first baseline (every baseline's mean and median are infinite: runs diverged)"
            lines += "\n\(Self.markdownEscaped(learned.name)) against \(Self.markdownEscaped(best.name)), \(chosen), function by function: "
                + "lower final loss on \(lower) of \(finals.count) functions; mean difference of the final losses \(difference).\n"
        }
        return lines
    }

    /// " with 2 rounds of finer rates around the best" when `evaluate --refine 2` tuned the baselines.
    private var refinedTuning: String {
        guard let rounds = metadata["tuning_refinements"] else { return "" }
        return " with \(rounds) round\(rounds == "1" ? "" : "s") of finer rates around the best"
    }

    /// The summary as a Markdown table (for docs/results.md and stdout), one row per optimizer in
    /// evaluation order, followed by a legend and `pairedComparisons` unless `legend` is false.
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
                + (tuning.isEmpty ? "\n" : " Learning rates of the baselines tuned by grid search\(refinedTuning) on separate training functions.\n")
                + pairedComparisons
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
