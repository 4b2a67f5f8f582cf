import Foundation
import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import MetaOpt

/// Collects elements, attributes and text of an SVG document with Foundation's XMLParser.
final class EvalbSVGCollector: NSObject, XMLParserDelegate {
    var elements: [(name: String, attributes: [String: String])] = []
    var text = ""
    /// Text inside <tspan> elements (the exponents of the y tick labels).
    var tspans: [String] = []
    var inTspan = false
    var error: Error?

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        elements.append((elementName, attributeDict))
        if elementName == "tspan" { inTspan = true; tspans.append("") }
    }
    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?) {
        if elementName == "tspan" { inTspan = false }
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text += string
        if inTspan { tspans[tspans.count - 1] += string }
    }
    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) { error = parseError }

    static func parse(_ svg: String) throws -> EvalbSVGCollector {
        let collector = EvalbSVGCollector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = collector
        let ok = parser.parse()
        if let e = collector.error ?? parser.parserError { throw e }
        XCTAssertTrue(ok)
        return collector
    }

    func count(_ name: String) -> Int { elements.filter { $0.name == name }.count }
}

final class SVGPlotTests: XCTestCase {
    func sampleReport() throws -> EvaluationReport {
        let functions = Evaluation.sampleFunctions(from: EvalbTestQuadraticFamily(), seed: 5, count: 10)
        let optimizers = [BaselineOptimizer(kind: .sgd, learningRate: 0.01), BaselineOptimizer(kind: .nag, learningRate: 0.003),
                          BaselineOptimizer(kind: .rmsprop, learningRate: 0.03), BaselineOptimizer(kind: .adam, learningRate: 0.1)]
        return try Evaluation.run(optimizers: optimizers, functions: functions, steps: 100)
    }

    func testWellFormedWithOnePathPerOptimizer() throws {
        let report = try sampleReport()
        let svg = report.plot(title: "Quadratic functions <10×10> & friends").render()
        let doc = try EvalbSVGCollector.parse(svg)
        XCTAssertEqual(doc.elements.first?.name, "svg")
        XCTAssertEqual(doc.elements.first?.attributes["xmlns"], "http://www.w3.org/2000/svg")
        XCTAssertEqual(doc.count("path"), 4)
        XCTAssertEqual(doc.count("polygon"), 4)  // one 25–75 % band each
        let seriesNames = doc.elements.filter { $0.name == "path" }.compactMap { $0.attributes["data-series"] }
        XCTAssertEqual(seriesNames, ["SGD (lr 0.01)", "NAG (lr 0.003)", "RMSprop (lr 0.03)", "Adam (lr 0.1)"])
        // Distinct colours.
        let strokes = doc.elements.filter { $0.name == "path" }.compactMap { $0.attributes["stroke"] }
        XCTAssertEqual(Set(strokes).count, 4)
        // Title (escaped and restored by the parser), legend, axis titles, subtitle.
        XCTAssertTrue(doc.text.contains("Quadratic functions <10×10> & friends"))
        for name in seriesNames { XCTAssertTrue(doc.text.contains(name)) }
        XCTAssertTrue(doc.text.contains("Step"))
        XCTAssertTrue(doc.text.contains("Loss (log scale)"))
        XCTAssertTrue(doc.text.contains("Lines: mean over 10 functions; shaded: 25th\u{2013}75th percentile"))
        // Every path has steps + 1 finite points inside the plot area.
        for path in doc.elements.filter({ $0.name == "path" }) {
            let numbers = path.attributes["d"]!.split(whereSeparator: { "ML ,".contains($0) }).map { Double($0)! }
            XCTAssertEqual(numbers.count, 2 * 101)
            XCTAssertTrue(numbers.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 760 })
        }
    }

    /// `plot --evaluations … --columns 9223372036854775807` overflowed the row count and trapped:
    /// more columns than panels are one row.
    func testMoreColumnsThanPanelsAreOneRow() {
        let panel = SVGPlot(title: "t", series: [SVGPlot.Series(name: "a", values: [5, 0.5])])
        let figure = SVGFigure(title: "f", panels: [panel, panel], columns: Int.max)
        XCTAssertEqual(figure.columns, 2)
        XCTAssertEqual(figure.rows, 1)
        XCTAssertEqual(figure.width, 2 * figure.panelWidth)
    }

    /// Ticks: one label 10^k per decade between the data's bounds.
    func testDecadeTicks() throws {
        let plot = SVGPlot(title: "t", series: [SVGPlot.Series(name: "a", values: [5, 0.5, 0.002])])
        let doc = try EvalbSVGCollector.parse(plot.render())
        // Data spans 2e-3 … 5: axis 1e-3 … 10, labels 10^-3 … 10^1 (exponent in a tspan).
        XCTAssertEqual(doc.tspans, ["\u{2212}3", "\u{2212}2", "\u{2212}1", "0", "1"])
        XCTAssertFalse(doc.text.contains("Note"))
        XCTAssertEqual(SVGPlot.niceStep(100.0 / 6), 20)
        XCTAssertEqual(SVGPlot.niceStep(3), 5)
        XCTAssertEqual(SVGPlot.niceStep(0.5), 1)
        XCTAssertEqual([1e-12, 1e5, 2500, 0.01, 21913.1].map(SVGPlot.compact), ["1e-12", "1e5", "2.5e3", "0.01", "2.19e4"])
    }

    func testNonPositiveAndNonFiniteValuesAreClippedAndNoted() throws {
        let plot = SVGPlot(title: "clipped", series: [
            SVGPlot.Series(name: "zero", values: [1, 0.1, 0, -3]),
            SVGPlot.Series(name: "diverged", values: [1, 10, .infinity, .nan], lower: [1, 1, 1, 1], upper: [1, 100, .infinity, .infinity]),
        ])
        let svg = plot.render()
        let doc = try EvalbSVGCollector.parse(svg)
        XCTAssertEqual(doc.count("path"), 2)
        XCTAssertEqual(doc.count("polygon"), 1)
        XCTAssertTrue(doc.text.contains("Note: values below 1e-12 drawn at the bottom edge; diverged (non-finite) values drawn at the top edge"))
        XCTAssertFalse(svg.lowercased().contains("nan"))
        XCTAssertFalse(svg.contains("inf"))
        // Many decades: labelled every other decade or more sparsely, at most ~9 labels.
        // Axis 1e-12 … 1e2 (14 decades): labelled every second decade, 8 labels.
        XCTAssertEqual(doc.tspans, ["\u{2212}12", "\u{2212}10", "\u{2212}8", "\u{2212}6", "\u{2212}4", "\u{2212}2", "0", "2"])
    }

    func testCeilingClipsToTopEdge() throws {
        var plot = SVGPlot(title: "ceiling", series: [SVGPlot.Series(name: "up", values: [10, 3e4, 1e6])])
        plot.ceiling = 2e4
        let doc = try EvalbSVGCollector.parse(plot.render())
        // Axis 1e1 … 1e5 (the decade above the ceiling); both large values at the top edge, y = 52.
        XCTAssertEqual(doc.tspans, ["1", "2", "3", "4", "5"])
        let d = try XCTUnwrap(doc.elements.first { $0.name == "path" }?.attributes["d"])
        XCTAssertTrue(d.hasSuffix(",52.00 L736.00,52.00"), d)
        XCTAssertTrue(doc.text.contains("Note: values above 2e4 drawn at the top edge"))
    }

    func testEmptyAndConstantSeriesStillRender() throws {
        _ = try EvalbSVGCollector.parse(SVGPlot(title: "none", series: []).render())
        let doc = try EvalbSVGCollector.parse(SVGPlot(title: "flat", series: [SVGPlot.Series(name: "c", values: [2, 2, 2])]).render())
        XCTAssertEqual(doc.count("path"), 1)
    }

    /// Values near the ends of Double's range (a damaged or hand-edited log) draw an axis with
    /// finite ends and labels instead of trapping in the tick arithmetic; those above 1e60 are
    /// drawn at the top edge and said so.
    func testValuesNearDoubleLimitsRender() throws {
        let cases: [[Double]] = [[1e-307, 1e-307, 1e-307], [.leastNormalMagnitude / 100, .leastNormalMagnitude / 100], [1, 1e250, 1, 1e250],
                                 [1e-300, 1e290], [-1e300, 1e300], [2e-305, 1e-305], [1e-45, 1, 1e45]]
        for values in cases {
            for scale: SVGPlot.YScale in [.automatic, .log, .linear(includeZero: true)] {
                var plot = SVGPlot(title: "extreme", series: [SVGPlot.Series(name: "s", values: values)])
                plot.yScale = scale
                let axis = plot.yAxis(plotHeight: 400, headroom: 0.6)
                XCTAssertTrue(axis.ticks.lower.isFinite && axis.ticks.upper.isFinite && axis.ticks.lower < axis.ticks.upper,
                              "\(values) \(scale): \(axis.ticks)")
                let doc = try EvalbSVGCollector.parse(plot.render())
                XCTAssertFalse(doc.text.contains("nan") || doc.text.contains("inf"), "\(values) \(scale): \(doc.text)")
                if values.contains(where: { $0 > SVGPlot.largestMagnitude }) {
                    XCTAssertTrue(doc.text.contains("drawn at the top edge"), "\(values) \(scale)")
                }
            }
        }
    }

    /// Writes the sample plot to a temporary file (set EVALB_KEEP_SVG=1 to keep it and print where).
    func testWriteSampleFile() throws {
        let report = try sampleReport()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("evalb-sample-\(UUID().uuidString).svg")
        try report.writePlot(to: url, title: "Quadratic functions (test family, 10 functions)")
        // A diverging SGD (the note about clipping must appear) and no bands.
        let functions = Evaluation.sampleFunctions(from: EvalbTestQuadraticFamily(), seed: 5, count: 10)
        let diverging = try Evaluation.run(optimizers: [BaselineOptimizer(kind: .sgd, learningRate: 0.3),
                                                        BaselineOptimizer(kind: .adam, learningRate: 0.1)],
                                           functions: functions, steps: 100)
        XCTAssertEqual(diverging.summary[0].divergedFunctions, 10)
        let url2 = FileManager.default.temporaryDirectory.appendingPathComponent("evalb-diverging-\(UUID().uuidString).svg")
        try diverging.writePlot(to: url2, title: "Diverging SGD", bands: false)
        let doc = try EvalbSVGCollector.parse(try String(contentsOf: url2, encoding: .utf8))
        XCTAssertEqual(doc.count("polygon"), 0)
        // The evaluation's ceiling: the power of ten above 1000 × the largest mean initial loss.
        let ceiling = try XCTUnwrap(diverging.plot().ceiling)
        XCTAssertEqual(log10(ceiling), log10(ceiling).rounded(), accuracy: 1e-9)
        XCTAssertTrue(doc.text.contains("Note: values above \(SVGPlot.compact(ceiling)) and diverged (non-finite) values drawn at the top edge"))
        let keep = ProcessInfo.processInfo.environment["EVALB_KEEP_SVG"] == "1"
        for u in [url, url2] {
            if keep { print("sample plot: \(u.path)") } else { try FileManager.default.removeItem(at: u) }
        }
    }

    // MARK: Long series

    /// The (x, y) points of an SVG path's "d" or a polygon's "points".
    private func coordinates(_ text: String) -> [(x: Double, y: Double)] {
        let numbers = text.split(whereSeparator: { "ML ,".contains($0) }).map { Double($0)! }
        return stride(from: 0, to: numbers.count, by: 2).map { (numbers[$0], numbers[$0 + 1]) }
    }

    /// An evaluation with --steps 1048576 drew every point: a 90 MB file. A long series is drawn
    /// with at most 4 points per pixel column (line and each band edge), its single spike and dip
    /// included; a series up to the threshold is drawn whole.
    func testLongSeriesAreThinnedPerPixelColumnKeepingSpikes() throws {
        let n = 1 << 20
        var values = (0..<n).map { 1 + 0.5 * sin(Double($0) / 1000) }
        values[777_777] = 1e3
        values[123_457] = 1e-3
        let series = SVGPlot.Series(name: "long", values: values, lower: values.map { $0 * 0.9 }, upper: values.map { $0 * 1.1 })
        let svg = SVGPlot(title: "Long", series: [series]).render()
        XCTAssertLessThan(svg.utf8.count, 200_000)
        let doc = try EvalbSVGCollector.parse(svg)
        let line = coordinates(try XCTUnwrap(doc.elements.first { $0.name == "path" }?.attributes["d"]))
        let band = coordinates(try XCTUnwrap(doc.elements.first { $0.name == "polygon" }?.attributes["points"]))
        let columns = 760 - 24 - 84 + 1  // the plot area's pixel columns, both ends included
        XCTAssertLessThanOrEqual(line.count, 4 * columns)
        XCTAssertGreaterThan(line.count, columns)
        XCTAssertLessThanOrEqual(band.count, 2 * 4 * columns)
        // The spike is the highest point drawn (smallest y), the dip the lowest, where they are.
        func position(_ i: Int) -> Double { 84 + Double(i) / Double(n - 1) * 652 }
        XCTAssertEqual(try XCTUnwrap(line.min { $0.y < $1.y }).x, position(777_777), accuracy: 0.006)
        XCTAssertEqual(try XCTUnwrap(line.max { $0.y < $1.y }).x, position(123_457), accuracy: 0.006)
        XCTAssertEqual(band.min { $0.y < $1.y }?.x ?? 0, position(777_777), accuracy: 0.006)

        let short = SVGPlot.Series(name: "short", values: Array(values.prefix(SVGPlot.thinningThreshold)))
        let shortDoc = try EvalbSVGCollector.parse(SVGPlot(title: "Short", series: [short]).render())
        let shortLine = coordinates(try XCTUnwrap(shortDoc.elements.first { $0.name == "path" }?.attributes["d"]))
        XCTAssertEqual(shortLine.count, SVGPlot.thinningThreshold)
    }

    /// Per pixel column, the points kept are the column's first and last and its lowest and
    /// highest, and where non-finite values are gaps, its first and last gap: the same extent and
    /// the same breaks as every point.
    func testThinningKeepsEveryColumnsEndsExtremesAndGaps() {
        var random = SystemRandomNumberGenerator()
        let n = 50_000
        let values = (0..<n).map { i -> Double in
            i % 997 == 0 ? .nan : i % 1999 == 0 ? .infinity : Double.random(in: -1...1, using: &random)
        }
        let positions = (0..<n).map { 10 + Double($0) * 0.0131 }
        for gaps in [false, true] {
            let kept = SVGPlot.drawnIndices(values, gapsAtNonFinite: gaps, positions: positions)
            XCTAssertEqual(kept, kept.sorted())
            let columns = Dictionary(grouping: 0..<n) { Int(positions[$0].rounded(.down)) }
            let keptByColumn = Dictionary(grouping: kept) { Int(positions[$0].rounded(.down)) }
            XCTAssertLessThanOrEqual(kept.count, (gaps ? 6 : 4) * columns.count)
            // As drawn: NaN and +∞ at the top edge (gaps aside).
            func height(_ i: Int) -> Double { values[i].isNaN ? .infinity : values[i] }
            for (column, all) in columns {
                let mine = keptByColumn[column] ?? []
                XCTAssertEqual(mine.first, all.first)
                XCTAssertEqual(mine.last, all.last)
                let drawn = { (i: Int) in !gaps || values[i].isFinite }
                XCTAssertEqual(mine.filter(drawn).map(height).min(), all.filter(drawn).map(height).min())
                XCTAssertEqual(mine.filter(drawn).map(height).max(), all.filter(drawn).map(height).max())
                if gaps {
                    XCTAssertEqual(mine.first { !values[$0].isFinite }, all.first { !values[$0].isFinite })
                    XCTAssertEqual(mine.last { !values[$0].isFinite }, all.last { !values[$0].isFinite })
                }
            }
        }
    }

    /// The training figure's panels are bounded too: a validation series of 20 000 points (one per
    /// meta-step of a long run) is drawn with at most 4 markers per pixel column, not 20 000.
    func testTrainingFigureOfManyValidationsIsBounded() throws {
        let steps = (0..<10).map {
            TrainingLog.Step(iteration: $0, truncation: 0, metaLoss: 1, gradientNorm: 1, skipped: false, computeMax: 1,
                             computeMean: 1, computeMin: 1, wait: 0, allreduce: 0, update: 0, elapsed: Double($0))
        }
        let validation = (0..<20_000).map {
            TrainingLog.Validation(iteration: $0, meanFinalLoss: 1 + Double($0 % 7), best: $0 == 0)
        }
        let svg = TrainingFigure.make([TrainingLog(name: "long", steps: steps, validation: validation)]).render()
        let doc = try EvalbSVGCollector.parse(svg)
        let markers = doc.elements.filter { $0.name == "circle" && $0.attributes["data-series"] == "mean final loss" }
        XCTAssertGreaterThan(markers.count, 100)
        XCTAssertLessThanOrEqual(markers.count, 4 * 600)
        XCTAssertLessThan(svg.utf8.count, 1_000_000)
    }

    /// A title with a control character made loss.svg unreadable: XML 1.0 allows none but tab,
    /// newline and return, even as a character reference. They become U+FFFD; the rest is kept.
    func testCharactersXMLDoesNotAllowAreReplaced() throws {
        XCTAssertEqual(SVGPlot.escaped("a\u{1}b\u{1F}c\td\ne\u{FFFE}<é😀>"), "a\u{FFFD}b\u{FFFD}c\td\ne\u{FFFD}&lt;é😀&gt;")
        let svg = try sampleReport().plot(title: "title \u{1}").render()
        let parser = XMLParser(data: Data(svg.utf8))
        XCTAssertTrue(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
    }
}
