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
        XCTAssertTrue(lines[0].hasPrefix("ALLREDUCE np=2 op=max type=double count=5 bytes=40 reps=5 median_us="), lines[0])
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
    }
}
