import Foundation
import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The hidden tools behind launch/scaling.sh: `allreduce-bench` and `scaling-plot`.
final class DistributedScalingToolsTests: XCTestCase {
    /// Rank 0 prints one line per collective, with the meta-step's |φ| + 2 always among the sizes.
    func testAllreduceBenchReportsEveryCollective() throws {
        try DistributedTrain.requireMPIRun()
        let result = try MPIJob.run(np: 2, args: ["allreduce-bench", "--count", "3", "--repetitions", "5", "--warmup", "1"],
                                    timeout: 60)
        XCTAssertEqual(result.status, 0, "\(result)")
        let lines = result.lines(withPrefix: "ALLREDUCE ")
        XCTAssertEqual(lines.count, 3, "\(result)")
        XCTAssertTrue(lines[0].hasPrefix("ALLREDUCE np=2 op=max type=double count=6 bytes=48 reps=5 median_us="), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("ALLREDUCE np=2 op=sum type=int64 count=3 bytes=24 "), lines[1])
        // The quadratic task's learned optimizer: |φ| = 5061 (hidden size 20, raw input).
        XCTAssertTrue(lines[2].hasPrefix("ALLREDUCE np=2 op=sum type=int64 count=5063 bytes=40504 "), lines[2])
    }

    /// Two small runs named like launch/scaling.sh's become a CSV row each, with speedup and
    /// efficiency relative to the one-rank run, a Markdown table and a well-formed SVG.
    func testScalingPlotSummarisesRuns() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let runs = scratch.appendingPathComponent("runs")
        for np in [1, 2] {
            let result = try DistributedTrain.train(np: np, runDirectory: runs.appendingPathComponent("strong-x.np\(np).r1"))
            XCTAssertEqual(result.status, 0, "\(result)")
            guard result.status == 0 else { return }
        }
        let csv = scratch.appendingPathComponent("s.csv"), svg = scratch.appendingPathComponent("s.svg")
        let table = scratch.appendingPathComponent("s.md")
        let result = try MPIJob.runProcess(
            executable: try MPIJob.binaryURL(),
            arguments: ["scaling-plot", "--runs", runs.path, "--warmup", "2", "--cores", "1",
                        "--csv", csv.path, "--svg", svg.path, "--markdown", table.path],
            timeout: 30)
        XCTAssertEqual(result.status, 0, "\(result)")
        let rows = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        XCTAssertEqual(rows.count, 3, "header and two rows: \(rows)")
        guard rows.count == 3 else { return }
        let header = rows[0].map(String.init)
        func value(_ row: Int, _ column: String) -> String { String(rows[row][header.firstIndex(of: column)!]) }
        XCTAssertEqual([value(1, "series"), value(1, "np"), value(2, "np")], ["strong-x", "1", "2"])
        XCTAssertEqual(value(1, "meta_batch"), "24")
        XCTAssertEqual(value(1, "blocks"), "6")
        XCTAssertEqual(value(1, "steps_per_run"), "4")
        XCTAssertEqual(value(1, "efficiency"), "1")
        XCTAssertEqual(value(2, "oversubscribed"), "1", "2 ranks on --cores 1")
        let throughput = [1, 2].map { Double(value($0, "throughput_task_steps_per_s")) ?? .nan }
        let efficiency = Double(value(2, "efficiency")) ?? .nan
        XCTAssertEqual(efficiency, throughput[1] / (2 * throughput[0]), accuracy: 1e-4)
        let markdown = try String(contentsOf: table, encoding: .utf8)
        XCTAssertTrue(markdown.contains("| strong-x | 2* | 24 | 6 | 10 |"), markdown)
        let document = try XMLDocument(contentsOf: svg)
        XCTAssertEqual(document.rootElement()?.name, "svg")
        // A CSV over a run's metrics.jsonl replaced it, status 0.
        let metrics = runs.appendingPathComponent("strong-x.np1.r1/metrics.jsonl")
        let metricsBefore = try Data(contentsOf: metrics)
        let overInput = try MPIJob.runProcess(executable: try MPIJob.binaryURL(),
                                              arguments: ["scaling-plot", "--runs", runs.path, "--csv", metrics.path, "--svg", svg.path],
                                              timeout: 30)
        XCTAssertEqual(overInput.status, 64, "\(overInput)")
        XCTAssertTrue(overInput.stderr.contains("which this command reads; choose another path"), "\(overInput)")
        XCTAssertEqual(try Data(contentsOf: metrics), metricsBefore)

        // A path that cannot be written (below a regular file) leaves all three files as they
        // were: the CSV used to be replaced before the SVG failed.
        let before = try [csv, svg, table].map { try Data(contentsOf: $0) }
        let blocked = try MPIJob.runProcess(
            executable: try MPIJob.binaryURL(),
            arguments: ["scaling-plot", "--runs", runs.path, "--warmup", "3", "--cores", "1", "--csv", csv.path,
                        "--svg", csv.appendingPathComponent("s.svg").path, "--markdown", table.path],
            timeout: 30)
        XCTAssertEqual(blocked.status, 65, "\(blocked)")
        XCTAssertEqual(try [csv, svg, table].map { try Data(contentsOf: $0) }, before)

        // A resumed run's clock starts again at its first line (the one with the provenance):
        // that step is left out, where it gave a negative step time.
        let resumed = runs.appendingPathComponent("strong-x.np1.r1")
        let lines = try String(contentsOf: resumed.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let restart = lines[4]["elapsed"] as! Double
        let rewritten = try lines.enumerated().map { i, line -> String in
            var line = line
            if i >= 4 { line["elapsed"] = (line["elapsed"] as! Double) - restart + 1e-6 }
            if i == 4 { line["provenance"] = lines[0]["provenance"] }
            return String(decoding: try JSONSerialization.data(withJSONObject: line), as: UTF8.self)
        }
        try (rewritten.joined(separator: "\n") + "\n").write(to: resumed.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
        let again = try MPIJob.runProcess(
            executable: try MPIJob.binaryURL(),
            arguments: ["scaling-plot", "--runs", runs.path, "--warmup", "2", "--cores", "1", "--csv", csv.path, "--svg", svg.path],
            timeout: 30)
        XCTAssertEqual(again.status, 0, "\(again)")
        let elapsed = lines.map { $0["elapsed"] as! Double }
        let kept = [2, 3, 5].map { elapsed[$0] - elapsed[$0 - 1] }.sorted()[1]  // the median of the steps left
        let first = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n")[1].split(separator: ",", omittingEmptySubsequences: false)
        let step = Double(first[header.firstIndex(of: "step_s")!]) ?? .nan
        XCTAssertEqual(step, kept, accuracy: 1e-5 * kept, "\(first)")
    }

    /// scaling-model and the communication tools check what they are given: a bench file whose
    /// times are unusable printed NaN and negative times with status 0; a meta-batch of 2^63 − 1
    /// trapped, 2^63 − 1 ranks ran for ever, an allreduce of 2^63 − 1 values crashed; a --shards
    /// that leaves no layout printed an empty table; a network named with a quote came back from
    /// the CSV another; a path that cannot be written left the files before it replaced; and
    /// comm-check --fail-on-rank with no such rank passed.
    func testScalingToolsCheckTheirInputs() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        func metaopt(_ args: [String]) throws -> MPIJobResult {
            try MPIJob.runProcess(executable: try MPIJob.binaryURL(), arguments: args, timeout: 60)
        }
        let shipped = ProvenanceCommandTests.packageRoot.appendingPathComponent("docs/scaling-mlp-bench.json")
        var bench = try JSONSerialization.jsonObject(with: Data(contentsOf: shipped)) as! [String: Any]
        var results = bench["results"] as! [[String: Any]]
        results[0]["phases"] = (results[0]["phases"] as! [[String: Any]]).map { phase in
            var phase = phase
            phase["seconds"] = 0
            return phase
        }
        bench["results"] = results
        let zero = scratch.appendingPathComponent("zero.json")
        try JSONSerialization.data(withJSONObject: bench).write(to: zero)
        let max = "9223372036854775807"
        for (args, message) in [(["--bench", zero.path], "its MLP result has no usable times"),
                                (["--meta-batch", max, "--ranks", "1"], "a --meta-batch value must be at most 16777216"),
                                (["--ranks", max, "--meta-batch", "1"], "a --ranks value must be at most 1048576"),
                                (["--ranks", "3", "--shards", "2"], "no layout to model: --shards 2 divides none of the rank counts 3")] {
            let result = try metaopt(["scaling-model"] + args)
            XCTAssertEqual(result.status, 64, "\(args): \(result)")
            XCTAssertTrue(result.stderr.contains(message), "\(args): \(result)")
        }
        let fromShipped = try metaopt(["scaling-model", "--bench", shipped.path])
        XCTAssertEqual(fromShipped.status, 0, "\(fromShipped)")
        XCTAssertTrue(fromShipped.stderr.contains("t_f = 282.5 µs, t_c = 441.8 ns"), "\(fromShipped)")

        let csv = scratch.appendingPathComponent("model.csv"), markdown = scratch.appendingPathComponent("model.md")
        let named = try metaopt(["scaling-model", "--ranks", "1", "2", "--network", #"my, "net":1:1"#, "--csv", csv.path,
                                 "--markdown", markdown.path])
        XCTAssertEqual(named.status, 0, "\(named)")
        let text = try String(contentsOf: csv, encoding: .utf8)
        XCTAssertTrue(text.contains(#""my, ""net""","MLP, meta-batch"#), text)
        let blocked = try metaopt(["scaling-model", "--ranks", "1", "--csv", csv.path, "--svg", csv.appendingPathComponent("x.svg").path,
                                   "--markdown", markdown.path])
        XCTAssertEqual(blocked.status, 65, "\(blocked)")
        XCTAssertEqual(try String(contentsOf: csv, encoding: .utf8), text, "the CSV is as it was")
        // Outputs over an input or over one another were written, status 0 (the last one won).
        let validation = scratch.appendingPathComponent("validation.jsonl")
        try "{}\n".write(to: validation, atomically: false, encoding: .utf8)
        for (args, message) in [(["--validation", validation.path, "--target", "1", "--csv", validation.path],
                                 "--csv \(validation.path) is \(validation.path), which this command reads"),
                                (["--csv", csv.path, "--svg", csv.path], "--svg \(csv.path) is the path of --csv too")] {
            let result = try metaopt(["scaling-model"] + args)
            XCTAssertEqual(result.status, 64, "\(args): \(result)")
            XCTAssertTrue(result.stderr.contains(message), "\(args): \(result)")
        }
        XCTAssertEqual(try String(contentsOf: validation, encoding: .utf8), "{}\n")
        XCTAssertEqual(try String(contentsOf: csv, encoding: .utf8), text)

        let huge = try metaopt(["allreduce-bench", "--count", max])
        XCTAssertEqual(huge.status, 64, "\(huge)")
        XCTAssertTrue(huge.stderr.contains("a --count value must be at most 134217728"), "\(huge)")
        let noRank = try MPIJob.run(np: 2, args: ["comm-check", "--fail-on-rank", "5"], timeout: 60)
        XCTAssertEqual(noRank.status, 64, "\(noRank)")
        XCTAssertTrue(noRank.stderr.contains("--fail-on-rank 5 names no rank of this job (0…1)"), "\(noRank)")
    }
}
