import Foundation
import Logging
import XCTest
@testable import MetaOpt

/// The y-axis rule (AxisTicks), the training figure (TrainingLog, TrainingFigure), the panel figure
/// of evaluations and train's live plot.
final class PlottingTests: XCTestCase {
    // MARK: Ticks

    /// 0.5–2.3 (the MLP losses) spans less than a decade but more than 3×: a log axis with 1-2-5
    /// labels, ends on whole mantissas and labelled, minor ticks at the other whole mantissas.
    /// A resumed run's subtitle gave the last process's time (each process starts its clock
    /// again); a log whose meta-steps go back (two logs joined) was drawn as one run.
    func testResumedRunsCountEveryProcessAndJoinedLogsAreRefused() throws {
        let text = [#"{"iteration":0,"meta_loss":1,"elapsed":1,"provenance":{}}"#, #"{"iteration":1,"meta_loss":1,"elapsed":4.5}"#,
                    #"{"iteration":2,"meta_loss":1,"elapsed":2,"provenance":{}}"#, #"{"iteration":3,"meta_loss":1,"elapsed":8}"#]
            .joined(separator: "\n") + "\n"
        let steps = try TrainingLog.parseMetrics(Data(text.utf8), source: "m")
        XCTAssertEqual(TrainingFigure.trainingSeconds(steps), 12.5)
        XCTAssertEqual(TrainingFigure.summary(TrainingLog(name: "r", steps: steps, validation: nil)), "r: 4 meta-steps in \(formatDuration(12.5))")
        XCTAssertThrowsError(try TrainingLog.parseMetrics(Data((text + text).utf8), source: "m")) { error in
            XCTAssertEqual((error as? TrainingLogError)?.line, 5, "\(error)")
            XCTAssertTrue("\(error)".contains("meta-step 0 after meta-step 3 (line 4)"), "\(error)")
        }
    }

    /// A huge `elapsed` in a hand-edited log (and an ETA at a vanishing rate) trapped in Int().
    func testHugeDurationsDrawAsUnknown() throws {
        let text = #"{"iteration":0,"meta_loss":1,"elapsed":1}"# + "\n" + #"{"iteration":1,"meta_loss":1,"elapsed":1e19}"# + "\n"
        let steps = try TrainingLog.parseMetrics(Data(text.utf8), source: "m")
        XCTAssertEqual(TrainingFigure.summary(TrainingLog(name: "r", steps: steps, validation: nil)), "r: 2 meta-steps in ?")
        XCTAssertEqual([-1e19, 9.3e18, .infinity, 3723, 59.6].map(formatDuration), ["?", "?", "?", "1h2m", "1m0s"])
    }

    func testOneTwoFiveTicksForAFewDecades() {
        let axis = AxisTicks.automatic(lowest: 0.5, highest: 2.3)
        XCTAssertEqual(axis.scale, .log)
        XCTAssertEqual(axis.logStyle, .oneTwoFive)
        XCTAssertEqual(axis.lower, 0.5)
        XCTAssertEqual(axis.upper, 3)
        XCTAssertEqual(axis.labelled, [0.5, 1, 2, 3])
        XCTAssertEqual(axis.minor, [0.6, 0.7, 0.8, 0.9])
        XCTAssertEqual(axis.labelled.map { axis.label($0).plain }, ["0.5", "1", "2", "3"])

        // Two decades: 1, 2, 5 in each.
        let wide = AxisTicks.automatic(lowest: 0.012, highest: 1.7)
        XCTAssertEqual(wide.logStyle, .oneTwoFive)
        XCTAssertEqual(wide.labelled, [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2])
        XCTAssertEqual(wide.labelled.map { wide.label($0).plain }, ["0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1", "2"])
        // Outside 0.001 … 100 000 the labels are m×10^k.
        let tiny = AxisTicks.automatic(lowest: 1.1e-6, highest: 4e-6)
        XCTAssertEqual(tiny.labelled.map { tiny.label($0).plain }, ["10^-6", "2×10^-6", "4×10^-6"])
    }

    /// 1e-6–1e2 spans 8 decades: labels at powers of ten only, no 1-2-5.
    func testDecadesForManyDecades() {
        let axis = AxisTicks.automatic(lowest: 1e-6, highest: 1e2)
        XCTAssertEqual(axis.scale, .log)
        XCTAssertEqual(axis.logStyle, .decades)
        XCTAssertEqual(axis.labelled, [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100])
        XCTAssertEqual(axis.label(1e-6), AxisTicks.Label(text: "10", exponent: "\u{2212}6"))
        XCTAssertEqual(axis.label(100), AxisTicks.Label(text: "10", exponent: "2"))
        XCTAssertTrue(axis.minor.isEmpty, "no minor ticks over more than 6 decades")
        // 14 decades: every second one.
        XCTAssertEqual(AxisTicks.automatic(lowest: 1e-12, highest: 99).labelled.count, 8)
    }

    /// 3–4 (max/min < 3): linear, 1-2-5 steps.
    func testLinearForASmallRange() {
        let axis = AxisTicks.automatic(lowest: 3, highest: 4)
        XCTAssertEqual(axis.scale, .linear)
        XCTAssertEqual(axis.labelled, [3, 3.2, 3.4, 3.6, 3.8, 4])
        XCTAssertEqual(axis.labelled.map { axis.label($0).plain }, ["3.0", "3.2", "3.4", "3.6", "3.8", "4.0"])
        // The border of the rule: a ratio of 3 is log, just below it linear.
        XCTAssertEqual(AxisTicks.automatic(lowest: 1, highest: 3).scale, .log)
        XCTAssertEqual(AxisTicks.automatic(lowest: 1, highest: 2.99).scale, .linear)
        // Zero or negative values: linear.
        XCTAssertEqual(AxisTicks.automatic(lowest: 0, highest: 40).scale, .linear)
        let zero = AxisTicks.linear(lowest: 0.013, highest: 0.031, includeZero: true)
        XCTAssertEqual(zero.labelled, [0, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035])
        // A constant gets a range around it.
        let flat = AxisTicks.automatic(lowest: 2, highest: 2)
        XCTAssertLessThan(flat.lower, 2)
        XCTAssertGreaterThan(flat.upper, 2)
    }

    /// The MLP results (losses 0.5–2.3): loss.svg gets the 1-2-5 axis, and the final losses of the
    /// LSTM (0.57) and NAG (0.62) are far enough apart to tell (and 0.51 from 0.62 farther still).
    func testMLPEvaluationPlotSeparatesCloseLosses() throws {
        let url = Self.packageRoot.appendingPathComponent("docs/results/mlp-p20/report.json")
        let report = try EvaluationReport.load(from: url)
        let plot = report.plot(title: "mlp-p20")
        let svg = plot.render()
        let doc = try EvalbSVGCollector.parse(svg)
        XCTAssertTrue(doc.tspans.isEmpty, "no 10^k labels on a 1-2-5 axis")
        // The y tick labels and their rows.
        let regex = try NSRegularExpression(pattern: #"<text x="[0-9.]+" y="([0-9.]+)" text-anchor="end">([0-9.]+)</text>"#)
        var rows: [String: Double] = [:]
        for m in regex.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)) {
            rows[String(svg[Range(m.range(at: 2), in: svg)!])] = Double(svg[Range(m.range(at: 1), in: svg)!])! - 5
        }
        XCTAssertEqual(Set(rows.keys), ["0.4", "0.5", "1", "2", "3"])
        // Pixels per decade from the labels 0.5 and 1: 0.51 and 0.62 are more than 30 px apart.
        let perDecade = (rows["0.5"]! - rows["1"]!) / log10(2)
        XCTAssertGreaterThan(log10(0.62 / 0.51) * perDecade, 30)
        // The final mean losses as drawn: the LSTM's line (0.571) ends below NAG's (0.617) by more than 10 px.
        let ends = doc.elements.filter { $0.name == "path" }.map { path -> Double in
            path.attributes["d"]!.split(whereSeparator: { "ML ,".contains($0) }).map { Double($0)! }.last!
        }
        XCTAssertEqual(ends[0] - ends[2], log10(0.6173 / 0.5714) * perDecade, accuracy: 1)
        XCTAssertGreaterThan(ends[0] - ends[2], 10)
    }

    // MARK: Training logs

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func scratch() throws -> URL {
        URL(fileURLWithPath: try dataTestTemporaryDirectory(self))
    }

    /// metrics.jsonl lines as `train` writes them, 5 truncations per horizon, a skipped step at 7.
    static func metricsLines(count: Int) -> String {
        (0..<count).map { i -> String in
            let loss = i == 7 ? "null" : "\(100.0 / Double(i + 1) + Double(i % 5))"
            return "{\"iteration\":\(i),\"horizon\":\(i / 5),\"truncation\":\(i % 5),\"meta_loss\":\(loss),\"mean_step_loss\":\(loss),"
                + "\"gradient_norm\":\(i == 7 ? "null" : "\(10.0 + Double(i))"),\"skipped\":\(i == 7),\"skipped_total\":\(i >= 7 ? 1 : 0),"
                + "\"compute_max\":0.03,\"compute_mean\":0.02,\"compute_min\":0.01,\"wait\":0.001,\"allreduce\":0.0001,"
                + "\"update\":0.0001,\"elapsed\":\(Double(i) * 0.1),\"iterations_per_second\":10,\"kernels\":\"avx2\"}\n"
        }.joined()
    }

    func testFigureOfASyntheticRun() throws {
        let run = try scratch().appendingPathComponent("run-a")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        try Self.metricsLines(count: 40).write(to: run.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)

        // Without validation.jsonl: no validation panel.
        var log = try TrainingLog.load(runDirectory: run)
        XCTAssertEqual(log.name, "run-a")
        XCTAssertEqual(log.steps.count, 40)
        XCTAssertNil(log.steps[7].metaLoss)
        XCTAssertTrue(log.steps[7].skipped)
        XCTAssertEqual(log.steps[3].truncation, 3)
        XCTAssertNil(log.validation)
        var doc = try EvalbSVGCollector.parse(TrainingFigure.make([log]).render())
        XCTAssertEqual(doc.elements.filter { $0.name == "g" && $0.attributes["class"] == "panel" }.count, 3)
        XCTAssertFalse(doc.text.contains("Validation"))
        // 40 steps, 5 per horizon: a window of 5.
        let names = Set(doc.elements.filter { $0.name == "path" }.compactMap { $0.attributes["data-series"] })
        XCTAssertEqual(names, ["every meta-step", "moving median (5 meta-steps)", "compute (mean of ranks)", "wait (rank 0)", "allreduce"])
        for title in ["Training run: run-a", "Meta-loss", "Meta-gradient norm", "Time per meta-step", "centred moving median over 5 meta-steps"] {
            XCTAssertTrue(doc.text.contains(title), title)
        }
        // The skipped step breaks the faint meta-loss line: two pieces.
        let raw = try XCTUnwrap(doc.elements.first { $0.attributes["data-series"] == "every meta-step" }?.attributes["d"])
        XCTAssertEqual(raw.filter { $0 == "M" }.count, 2)
        XCTAssertTrue(doc.text.contains("1 skipped meta-step (non-finite) left as gaps"), "the gap is explained under the panel")
        // Every step skipped: the empty panels say so.
        var skipped = log
        for i in skipped.steps.indices { (skipped.steps[i].metaLoss, skipped.steps[i].gradientNorm) = (nil, nil) }
        let empty = try EvalbSVGCollector.parse(TrainingFigure.make([skipped]).render())
        XCTAssertTrue(empty.text.contains("no meta-step has a finite value (all 40 skipped); the axis is arbitrary"), empty.text)

        // With validation.jsonl: a validation panel with its series and the best one ringed.
        try """
            {"iteration":0,"mean_final_loss":9.5,"best":true,"kernels":"avx2"}
            {"iteration":20,"mean_final_loss":0.7,"best":true,"kernels":"avx2"}
            {"iteration":40,"mean_final_loss":null,"best":false,"kernels":"avx2"}

            """.write(to: run.appendingPathComponent("validation.jsonl"), atomically: true, encoding: .utf8)
        log = try TrainingLog.load(runDirectory: run)
        XCTAssertEqual(log.validation, [.init(iteration: 0, meanFinalLoss: 9.5, best: true), .init(iteration: 20, meanFinalLoss: 0.7, best: true),
                                        .init(iteration: 40, meanFinalLoss: nil, best: false)])
        doc = try EvalbSVGCollector.parse(TrainingFigure.make([log]).render())
        XCTAssertTrue(doc.text.contains("Validation"))
        XCTAssertTrue(doc.text.contains("best validation 0.7 at 20"))
        XCTAssertEqual(doc.elements.filter { $0.name == "circle" && $0.attributes["data-series"] == "mean final loss" }.count, 3)
        XCTAssertEqual(doc.elements.filter { $0.name == "circle" && $0.attributes["data-series"] == "best (best-optimizer.json)" }.count, 1)
        XCTAssertTrue(doc.text.contains("diverged (non-finite) values drawn at the top edge"), "the null score is drawn at the top and noted")

        // Two runs: overlaid with their names in the legends, one timing panel each.
        let other = run.deletingLastPathComponent().appendingPathComponent("run-b")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try Self.metricsLines(count: 25).write(to: other.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
        let both = TrainingFigure.make([log, try TrainingLog.load(runDirectory: other)])
        XCTAssertEqual(both.columns, 3)
        XCTAssertEqual(both.panels.map(\.title), ["Meta-loss", "Validation", "Meta-gradient norm",
                                                  "Time per meta-step: run-a", "Time per meta-step: run-b"])
        XCTAssertEqual(both.panels[3].yRange, both.panels[4].yRange)
        doc = try EvalbSVGCollector.parse(both.render())
        let legend = doc.elements.filter { $0.name == "path" }.compactMap { $0.attributes["data-series"] }
        XCTAssertTrue(legend.contains("run-a") && legend.contains("run-b"))
        XCTAssertTrue(doc.text.contains("Training runs: run-a, run-b"))
    }

    func testMalformedAndMissingLogsGiveClearErrors() throws {
        let dir = try scratch()
        func error(_ text: String, validation: Bool = false) -> String {
            do {
                let data = Data(text.utf8)
                if validation { _ = try TrainingLog.parseValidation(data, source: "v.jsonl") } else { _ = try TrainingLog.parseMetrics(data, source: "m.jsonl") }
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        let good = #"{"iteration":0,"meta_loss":1.5}"#
        XCTAssertEqual(error("\(good)\nnot json\n\(good)\n"), "m.jsonl:2: not valid JSON: not json")
        XCTAssertEqual(error("\(good)\n{\"meta_loss\":2}\n"), "m.jsonl:2: no \"iteration\" (not a line that `train` writes)")
        XCTAssertEqual(error("{\"iteration\":3}\n"), "m.jsonl:1: no \"meta_loss\" (not a line that `train` writes)")
        XCTAssertEqual(error("{\"iteration\":3,\"meta_loss\":\"x\"}\n"), "m.jsonl:1: \"meta_loss\" is not a number or null")
        XCTAssertEqual(error("{\"iteration\":1.5,\"meta_loss\":1}\n"), "m.jsonl:1: \"iteration\" must be a whole number ≥ 0")
        XCTAssertEqual(error("{\"iteration\":-1,\"meta_loss\":1}\n"), "m.jsonl:1: \"iteration\" must be a whole number ≥ 0")
        XCTAssertEqual(error("[1,2]\n"), "m.jsonl:1: the line is not a JSON object")
        XCTAssertEqual(error("{\"iteration\":\"7\",\"meta_loss\":1}\n"), "m.jsonl:1: \"iteration\" is not a whole number ≥ 0")
        XCTAssertEqual(error("{\"iteration\":null,\"meta_loss\":1}\n"), "m.jsonl:1: \"iteration\" is null")
        XCTAssertEqual(error("{\"iteration\":0,\"mean_final_loss\":1,\"best\":3}\n", validation: true), "v.jsonl:1: \"best\" is not true or false")
        XCTAssertEqual(error("{\"iteration\":0,\"meta_loss\":1}\n", validation: true), "v.jsonl:1: no \"mean_final_loss\" (not a line that `train` writes)")
        // Blank lines are skipped; a last line without its newline that does not parse is being written.
        let next = good.replacingOccurrences(of: "\"iteration\":0", with: "\"iteration\":1")
        XCTAssertNotEqual(next, good)
        XCTAssertEqual(try TrainingLog.parseMetrics(Data("\(good)\n\n\(next)\n{\"iteration\":2,\"meta_l".utf8), source: "m").count, 2)
        // ... but a complete last line must parse.
        XCTAssertEqual(error("\(good)\n{\"iteration\":2,\"meta_l\n"), "m.jsonl:2: not valid JSON: {\"iteration\":2,\"meta_l")

        // Missing directory, missing metrics.jsonl.
        XCTAssertThrowsError(try TrainingLog.load(runDirectory: dir.appendingPathComponent("nope"))) {
            XCTAssertTrue("\($0)".hasSuffix("nope: no such directory"), "\($0)")
        }
        // A name that cannot be looked up says why (a loop of links was "no such directory").
        let loop = dir.appendingPathComponent("loop")
        XCTAssertEqual(symlink(loop.path, loop.path), 0)
        XCTAssertThrowsError(try TrainingLog.load(runDirectory: loop)) {
            XCTAssertTrue("\($0)".hasSuffix("loop: cannot be read (Too many levels of symbolic links)"), "\($0)")
        }
        XCTAssertThrowsError(try TrainingLog.load(runDirectory: dir)) {
            XCTAssertTrue("\($0)".contains("metrics.jsonl: no such file (is "), "\($0)")
            XCTAssertEqual(($0 as? TrainingLogError)?.isBadInput, false, "it may be there the next time")
        }
        // A directory in its place is bad input (status 65), named as what it is.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("metrics.jsonl"), withIntermediateDirectories: false)
        XCTAssertThrowsError(try TrainingLog.load(runDirectory: dir)) {
            XCTAssertTrue("\($0)".hasSuffix("metrics.jsonl: is a directory"), "\($0)")
            XCTAssertEqual(($0 as? TrainingLogError)?.isBadInput, true, "\($0)")
        }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("metrics.jsonl"))
        // A malformed validation.jsonl is an error too, naming that file.
        try (good + "\n").write(to: dir.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
        try "{\"iteration\":0}\n".write(to: dir.appendingPathComponent("validation.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainingLog.load(runDirectory: dir)) {
            XCTAssertTrue("\($0)".contains("validation.jsonl:1: no \"mean_final_loss\""), "\($0)")
        }
    }

    func testMovingMedianWindowAndEnvelope() {
        // Centred, shorter at the ends, robust to a single spike.
        let m = TrainingFigure.movingMedian(x: [0, 1, 2, 3, 4], y: [1, 100, 2, 3, 4], window: 3, maxPoints: 100)
        XCTAssertEqual(m.x, [0, 1, 2, 3, 4])
        XCTAssertEqual(m.y, [50.5, 2, 3, 3, 3.5])
        // The median by selection equals the sorted one, ties and even counts included.
        var generator = SystemRandomNumberGenerator()
        for count in [1, 2, 3, 4, 7, 10, 51, 100] {
            for _ in 0..<20 {
                var values = (0..<count).map { _ in Double(Int.random(in: 0..<5, using: &generator)) }
                let sorted = values.sorted()
                let expected = count % 2 == 1 ? sorted[count / 2] : (sorted[count / 2 - 1] + sorted[count / 2]) / 2
                XCTAssertEqual(median(&values), expected, "\(sorted)")
            }
        }
        // Missing values are left out; a window with none is a gap.
        let gaps = TrainingFigure.movingMedian(x: [0, 1, 2, 3, 4, 5], y: [1, nil, nil, nil, nil, 2], window: 3, maxPoints: 100)
        XCTAssertEqual(gaps.y[0], 1)
        XCTAssertTrue(gaps.y[2].isNaN)
        // Thinned to about maxPoints, the last index always kept.
        let long = TrainingFigure.movingMedian(x: (0..<1000).map(Double.init), y: (0..<1000).map { Double($0) }, window: 5, maxPoints: 100)
        XCTAssertEqual(long.x.count, 101, "every 10th index, and the last")
        XCTAssertEqual(long.x.last, 999)
        // Window: ~1/30 of the run, ≥ 5, whole horizons.
        XCTAssertEqual(TrainingFigure.smoothingWindow(stepCount: 5000, period: 5), 170)
        XCTAssertEqual(TrainingFigure.smoothingWindow(stepCount: 600, period: 5), 20)
        XCTAssertEqual(TrainingFigure.smoothingWindow(stepCount: 20, period: 5), 5)
        XCTAssertEqual(TrainingFigure.smoothingWindow(stepCount: 100, period: 1), 5)
        XCTAssertEqual(TrainingFigure.smoothingWindow(stepCount: 100, period: 7), 7)
        // The envelope keeps every stretch's lowest and highest value.
        let y: [Double?] = (0..<1000).map { $0 == 500 ? 1e6 : Double($0 % 10) }
        let e = TrainingFigure.envelope(x: (0..<1000).map(Double.init), y: y, maxPoints: 100)
        XCTAssertLessThanOrEqual(e.y.count, 100)
        XCTAssertEqual(e.y.max(), 1e6)
        XCTAssertEqual(e.y.min(), 0)
        XCTAssertEqual(TrainingFigure.envelope(x: [0, 1], y: [1, nil], maxPoints: 100).y[0], 1)
        XCTAssertTrue(TrainingFigure.envelope(x: [0, 1], y: [1, nil], maxPoints: 100).y[1].isNaN)
        // Legend names tell apart directories of the same name.
        XCTAssertEqual(TrainingLog.displayNames([URL(fileURLWithPath: "/r/a/run"), URL(fileURLWithPath: "/r/b/run")]), ["a/run", "b/run"])
        XCTAssertEqual(TrainingLog.displayNames([URL(fileURLWithPath: "/r/q1"), URL(fileURLWithPath: "/r/q2/")]), ["q1", "q2"])
    }

    // MARK: Panel figure

    func testPanelFigureOfEvaluations() throws {
        let functions = Evaluation.sampleFunctions(from: EvalbTestQuadraticFamily(), seed: 5, count: 6)
        let first = try Evaluation.run(optimizers: [BaselineOptimizer(kind: .sgd, learningRate: 0.01), BaselineOptimizer(kind: .adam, learningRate: 0.1)],
                                       functions: functions, steps: 30)
        // The second evaluation lists the optimizers in another order, with other learning rates.
        let second = try Evaluation.run(optimizers: [BaselineOptimizer(kind: .adam, learningRate: 0.3), BaselineOptimizer(kind: .sgd, learningRate: 0.003),
                                                     BaselineOptimizer(kind: .nag, learningRate: 0.01)],
                                        functions: functions, steps: 30)
        let figure = EvaluationReport.panelFigure([("first", first), ("second", second)], title: "Side by side")
        XCTAssertEqual(figure.columns, 2)
        let doc = try EvalbSVGCollector.parse(figure.render())
        XCTAssertEqual(doc.elements.filter { $0.name == "g" && $0.attributes["class"] == "panel" }.count, 2)
        let paths = doc.elements.filter { $0.name == "path" }
        XCTAssertEqual(paths.compactMap { $0.attributes["data-series"] },
                       ["SGD (lr 0.01)", "Adam (lr 0.1)", "Adam (lr 0.3)", "SGD (lr 0.003)", "NAG (lr 0.01)"])
        // One colour per optimizer in every panel.
        let colour = { (i: Int) in paths[i].attributes["stroke"]! }
        XCTAssertEqual(colour(0), colour(3), "SGD")
        XCTAssertEqual(colour(1), colour(2), "Adam")
        XCTAssertEqual(Set([colour(0), colour(1), colour(4)]).count, 3)
        // Titles; the shared subtitle once, under the figure's title.
        for text in ["Side by side", "first", "second", "Lines: mean over 6 functions; shaded: 25th\u{2013}75th percentile"] {
            XCTAssertTrue(doc.text.contains(text), text)
        }
        XCTAssertEqual(doc.text.components(separatedBy: "Lines: mean over").count, 2)
        XCTAssertEqual(figure.width, 2 * figure.panelWidth)
        XCTAssertEqual(doc.elements.first?.attributes["height"], String(format: "%.2f", figure.height))
        // Panels side by side: translated by one panel width.
        let offsets = doc.elements.filter { $0.attributes["class"] == "panel" }.compactMap { $0.attributes["transform"] }
        XCTAssertEqual(offsets, ["translate(0.00,62.00)", "translate(\(String(format: "%.2f", figure.panelWidth)),62.00)"])
    }

    /// The legend is not drawn over a line: on a plot whose lines fill every corner, it goes where
    /// the lines leave room (here: above them, the axis stretched).
    func testLegendAvoidsLines() throws {
        // Lines along both diagonals and the middle: every corner holds a line at first.
        let n = 50
        let plot = SVGPlot(title: "crowded", series: [
            SVGPlot.Series(name: "up", values: (0..<n).map { 1 + Double($0) / 10 }),
            SVGPlot.Series(name: "down", values: (0..<n).map { 6 - Double($0) / 10 }),
        ])
        let doc = try EvalbSVGCollector.parse(plot.render())
        let box = try XCTUnwrap(doc.elements.first { $0.name == "rect" && $0.attributes["stroke"] == "#999999" })
        let (x0, y0) = (Double(box.attributes["x"]!)!, Double(box.attributes["y"]!)!)
        let (x1, y1) = (x0 + Double(box.attributes["width"]!)!, y0 + Double(box.attributes["height"]!)!)
        for path in doc.elements.filter({ $0.name == "path" }) {
            let numbers = path.attributes["d"]!.split(whereSeparator: { "ML ,".contains($0) }).map { Double($0)! }
            for i in stride(from: 0, to: numbers.count, by: 2) {
                XCTAssertFalse(numbers[i] >= x0 && numbers[i] <= x1 && numbers[i + 1] >= y0 && numbers[i + 1] <= y1,
                               "a point of \(path.attributes["data-series"]!) under the legend")
            }
        }
    }

    // MARK: Live plot

    final class Collected: @unchecked Sendable {
        var lines: [String] = []
        let lock = NSLock()
        func add(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    }

    struct CollectingHandler: LogHandler {
        let collected: Collected
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { collected.add("\(event.level): \(event.message)") }
    }

    func train(in directory: URL, plotEvery: Double?, logger: Logger) throws {
        let config = TrainingConfig(task: .quadratic(dimension: 4), metaBatch: 4, blockSize: 4, unroll: 5, horizon: 10,
                                    iterations: 6, learningRate: 1e-2, seed: 3,
                                    validation: ValidationConfig(every: 2, functions: 2, seed: 9))
        let run = try TrainingRun(config: config, communicator: LocalCommunicator(),
                                  options: .init(runDirectory: RunDirectory(directory), progressEvery: 100, plotEvery: plotEvery),
                                  resume: false, logger: logger)
        run.progress = { _ in }
        XCTAssertEqual(try run.run(), .finished)
    }

    func testTrainingKeepsALivePlotAndFailsSoftly() throws {
        let dir = try scratch()
        let collected = Collected()
        let logger = Logger(label: "test") { _ in CollectingHandler(collected: collected) }

        // Every meta-step (interval 0) and at the end: the figure of the finished run.
        let live = dir.appendingPathComponent("live")
        try train(in: live, plotEvery: 0, logger: logger)
        let svg = try String(contentsOf: live.appendingPathComponent("plot.svg"), encoding: .utf8)
        let doc = try EvalbSVGCollector.parse(svg)
        XCTAssertTrue(doc.text.contains("Training run: live"))
        XCTAssertTrue(doc.text.contains("6 meta-steps"), "drawn after the last meta-step")
        XCTAssertTrue(doc.text.contains("Validation"))
        XCTAssertEqual(doc.elements.filter { $0.name == "circle" && $0.attributes["data-series"] == "mean final loss" }.count, 4,
                       "validations at 0, 2, 4, 6, the last one after the last meta-step")
        XCTAssertFalse(collected.lines.contains { $0.hasPrefix("warning") }, "\(collected.lines)")

        // Off: no plot.svg.
        let off = dir.appendingPathComponent("off")
        try train(in: off, plotEvery: nil, logger: logger)
        XCTAssertFalse(FileManager.default.fileExists(atPath: off.appendingPathComponent("plot.svg").path))

        // plot.svg cannot be written (a directory is in its place): training finishes, one warning.
        let blocked = dir.appendingPathComponent("blocked")
        try FileManager.default.createDirectory(at: blocked.appendingPathComponent("plot.svg"), withIntermediateDirectories: true)
        try train(in: blocked, plotEvery: 0, logger: logger)
        XCTAssertTrue(FileManager.default.fileExists(atPath: blocked.appendingPathComponent("optimizer.json").path))
        let warnings = collected.lines.filter { $0.hasPrefix("warning") && $0.contains("plot.svg") }
        XCTAssertEqual(warnings.count, 1, "\(collected.lines)")
        XCTAssertTrue(warnings[0].contains("training goes on"), warnings[0])
        XCTAssertGreaterThan(collected.lines.filter { $0.hasPrefix("debug") && $0.contains("plot.svg") }.count, 1)

        // Failing first at the run's end, the warning does not say that training goes on (it
        // did so as a full disk ended the run).
        let blockedAtEnd = dir.appendingPathComponent("blocked-at-end")
        try FileManager.default.createDirectory(at: blockedAtEnd.appendingPathComponent("plot.svg"), withIntermediateDirectories: true)
        let before = collected.lines.count
        try train(in: blockedAtEnd, plotEvery: 1e6, logger: logger)
        let endWarnings = collected.lines.dropFirst(before).filter { $0.hasPrefix("warning") && $0.contains("plot.svg") }
        XCTAssertEqual(endWarnings.count, 1, "\(collected.lines)")
        XCTAssertTrue(endWarnings.first?.contains("plot.svg not updated at the end of the run: ") == true, "\(endWarnings)")
        XCTAssertFalse(endWarnings.first?.contains("training goes on") == true, "\(endWarnings)")
    }
}
