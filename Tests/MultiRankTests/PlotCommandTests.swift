import Foundation
import XCTest

/// `plot` on real run directories and evaluation reports, train's live plot, and evaluate's
/// progress line (only on a terminal).
final class PlotCommandTests: XCTestCase {
    /// Runs metaopt-dist without mpirun (plot needs no MPI; evaluate runs in one process).
    func metaopt(_ args: [String]) throws -> MPIJobResult {
        try MPIJob.runProcess(executable: try MPIJob.binaryURL(), arguments: args, timeout: 60)
    }

    func testPlotCommandOnRunsAndLivePlot() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let a = scratch.appendingPathComponent("runs/a"), b = scratch.appendingPathComponent("runs/b")
        let trainA = try DistributedTrain.train(np: 2, runDirectory: a, extra: ["--validate-every", "2", "--validation-functions", "2"])
        XCTAssertEqual(trainA.status, 0, "\(trainA)")
        let trainB = try DistributedTrain.train(np: nil, runDirectory: b, extra: ["--validate-every", "0"])
        XCTAssertEqual(trainB.status, 0, "\(trainB)")

        // train drew RUN_DIR/plot.svg at the end (rank 0 only, no warning).
        let live = try String(contentsOf: a.appendingPathComponent("plot.svg"), encoding: .utf8)
        XCTAssertTrue(live.contains("Training run: a"), live)
        XCTAssertTrue(live.contains("a: 6 meta-steps"), "drawn after the last meta-step")
        XCTAssertTrue(live.contains(">Validation<"))
        XCTAssertFalse(trainA.stderr.contains("plot.svg"), "\(trainA)")

        // One run, default output: RUN_DIR/plot.svg, redrawn.
        try FileManager.default.removeItem(at: b.appendingPathComponent("plot.svg"))
        let one = try metaopt(["plot", b.path])
        XCTAssertEqual(one.status, 0, "\(one)")
        XCTAssertEqual(one.stdout, "wrote \(b.appendingPathComponent("plot.svg").path)\n")
        let svgB = try String(contentsOf: b.appendingPathComponent("plot.svg"), encoding: .utf8)
        XCTAssertTrue(svgB.contains("Training run: b"))
        XCTAssertFalse(svgB.contains(">Validation<"), "b has no validation.jsonl")

        // Two runs into a directory given with a trailing slash: DIR/plot.svg, both runs in the legends.
        let out = scratch.appendingPathComponent("out")
        let two = try metaopt(["plot", a.path, b.path, "--out", out.path + "/"])
        XCTAssertEqual(two.status, 0, "\(two)")
        let svg = try String(contentsOf: out.appendingPathComponent("plot.svg"), encoding: .utf8)
        for text in ["Training runs: a, b", "data-series=\"a\"", "data-series=\"b\"", "Time per meta-step: a", "Time per meta-step: b"] {
            XCTAssertTrue(svg.contains(text), text)
        }

        // Mistakes: no inputs, both kinds, a missing run, a malformed line.
        let none = try metaopt(["plot"])
        XCTAssertEqual(none.status, 64, "\(none)")
        XCTAssertTrue(none.stderr.contains("give run directories, or --evaluations with report files"), "\(none)")
        let mixed = try metaopt(["plot", a.path, "--evaluations", a.path])
        XCTAssertEqual(mixed.status, 64, "\(mixed)")
        let missing = try metaopt(["plot", scratch.appendingPathComponent("nope").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("nope: no such directory"), "\(missing)")
        let metrics = b.appendingPathComponent("metrics.jsonl")
        var lines = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[2] = "{\"iteration\":2,\"meta_loss\":\"oops\"}"
        try (lines.joined(separator: "\n") + "\n").write(to: metrics, atomically: true, encoding: .utf8)
        let malformed = try metaopt(["plot", b.path])
        XCTAssertNotEqual(malformed.status, 0)
        XCTAssertTrue(malformed.stderr.contains("metrics.jsonl:3: \"meta_loss\" is not a number or null"), "\(malformed)")
    }

    /// Progress goes to stderr only when it is a terminal: nothing in a file (as here), a line
    /// rewritten with \r under a pseudo-terminal (script(1)), nothing there with --quiet. The
    /// reports then make a panel figure.
    func testEvaluateProgressOnlyOnATerminalAndPanels() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let run = scratch.appendingPathComponent("run")
        let train = try DistributedTrain.train(np: nil, runDirectory: run)
        XCTAssertEqual(train.status, 0, "\(train)")
        let evaluate = ["evaluate", "--optimizer", run.appendingPathComponent("optimizer.json").path, "--functions", "4",
                        "--steps", "10", "--tuning-functions", "2", "--baselines", "sgd,adam"]

        let plain = try metaopt(evaluate + ["--out", scratch.appendingPathComponent("e1").path])
        XCTAssertEqual(plain.status, 0, "\(plain)")
        XCTAssertFalse(plain.stderr.contains("\r"), "\(plain)")
        XCTAssertFalse(plain.stderr.contains("functions, ETA"), "\(plain)")
        XCTAssertTrue(plain.stdout.hasPrefix("| Optimizer |"), "\(plain)")

        let script = URL(fileURLWithPath: "/usr/bin/script")
        guard FileManager.default.isExecutableFile(atPath: script.path) else {
            throw XCTSkip("script(1) not installed (util-linux): cannot test the terminal case")
        }
        func onTerminal(_ args: [String]) throws -> MPIJobResult {
            let command = ([try MPIJob.binaryURL().path] + args).map { "'\($0)'" }.joined(separator: " ")
            return try MPIJob.runProcess(executable: script, arguments: ["-qec", command, "/dev/null"], timeout: 60)
        }
        let terminal = try onTerminal(evaluate + ["--out", scratch.appendingPathComponent("e2").path])
        XCTAssertEqual(terminal.status, 0, "\(terminal)")
        for text in ["\rtuning SGD, lr 0.0001 (1/10): 0/2 functions, ETA ?\u{1B}[K", "\revaluating LSTM: 0/4 functions, ETA ",
                     "\revaluating Adam: 0/4 functions, ETA ", "\r\u{1B}[K| Optimizer |"] {
            XCTAssertTrue(terminal.stdout.contains(text), "\(text.debugDescription) in \(terminal.stdout.debugDescription)")
        }
        let quiet = try onTerminal(evaluate + ["--quiet", "--out", scratch.appendingPathComponent("e3").path])
        XCTAssertEqual(quiet.status, 0, "\(quiet)")
        XCTAssertFalse(quiet.stdout.contains("functions, ETA"), "\(quiet.stdout.debugDescription)")
        XCTAssertTrue(quiet.stdout.contains("| Optimizer |"), "\(quiet.stdout.debugDescription)")

        // The two reports side by side, titled, with the tuned learning rates in the legends.
        let panel = scratch.appendingPathComponent("panel.svg")
        let figure = try metaopt(["plot", "--evaluations", scratch.appendingPathComponent("e1").path,
                                  scratch.appendingPathComponent("e3/report.json").path,
                                  "--panel-titles", "first", "second", "--title", "Two evaluations", "--out", panel.path])
        XCTAssertEqual(figure.status, 0, "\(figure)")
        let svg = try String(contentsOf: panel, encoding: .utf8)
        XCTAssertEqual(svg.components(separatedBy: "<g class=\"panel\"").count - 1, 2)
        for text in ["Two evaluations", ">first<", ">second<", "data-series=\"SGD (lr "] { XCTAssertTrue(svg.contains(text), text) }
        let wrong = try metaopt(["plot", "--evaluations", run.appendingPathComponent("metrics.jsonl").path])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("not an evaluation report"), "\(wrong)")
    }
}
