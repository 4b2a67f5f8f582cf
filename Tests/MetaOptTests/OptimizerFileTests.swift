import XCTest
@testable import MetaOpt

final class OptimizerFileTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("optimizer-file-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func sample() -> OptimizerFile {
        let config = LearnedOptimizerConfig(hiddenSizes: [3, 3], preprocessing: .logAndSign(p: 10), outputScale: 0.1)
        var phi: [Float] = ParameterLayout(config).initialParameters(key: RandomKey(seed: 5, horizon: 0, task: 0))
        phi[0] = -0.0
        phi[1] = Float(bitPattern: 0x0000_0001)  // smallest subnormal
        phi[2] = 0.1
        return OptimizerFile(optimizer: config, phi: phi, training: TrainingConfig(task: .quadratic(dimension: 4)), iteration: 7)
    }

    func testRoundTripIsBitExact() throws {
        let file = sample(), url = directory.appendingPathComponent("o.json")
        try file.write(to: url)
        let read = try OptimizerFile.read(from: url)
        XCTAssertEqual(read.phi.map(\.bitPattern), file.phi.map(\.bitPattern))
        XCTAssertEqual(read, file)
        XCTAssertEqual(read.tensors.map(\.name), ["lstm1.weight", "lstm1.bias", "lstm2.weight", "lstm2.bias",
                                                 "output.weight", "output.bias"])
        XCTAssertEqual(read.tensors[0].shape, [2 + 3, 12])
    }

    func testExportNamesEveryTensorWithItsValues() throws {
        let file = sample()
        let exported = file.exported()
        let layout = ParameterLayout(file.optimizer)
        XCTAssertEqual(Set(exported.tensors.keys), Set(layout.tensors.map(\.name)))
        for t in layout.tensors {
            XCTAssertEqual(exported.tensors[t.name]?.shape, t.shape)
            XCTAssertEqual(exported.tensors[t.name]?.values, Array(file.phi[t.range]))
        }
    }

    func assertRejected(_ text: String, containing expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = directory.appendingPathComponent("bad.json")
        try Data(text.utf8).write(to: url)
        XCTAssertThrowsError(try OptimizerFile.read(from: url), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssert(message.contains(url.path), "names the file: \(message)", file: file, line: line)
            XCTAssert(message.contains(expected), "\(message) should contain '\(expected)'", file: file, line: line)
        }
    }

    func testForeignMalformedAndMismatchedFilesAreRejected() throws {
        try assertRejected("{\"hello\": 1}", containing: "not a metaopt-dist optimizer file")
        try assertRejected("not json at all", containing: "is not valid JSON")
        try assertRejected("not json at all", containing: "an optimizer file is JSON with \"format\": \"metaopt-dist.optimizer\"")
        try assertRejected("{\"format\": \"metaopt-dist.optimizer\", \"version\": 99}", containing: "version 99")
        try assertRejected("{\"format\": \"metaopt-dist.optimizer\", \"version\": 1}", containing: "malformed")
        var file = sample()
        file.phi.removeLast()
        let encoded = String(decoding: try JSONEncoder().encode(file), as: UTF8.self)
        try assertRejected(encoded, containing: "needs")
        // `export`'s output given back to evaluate, export or train --init-from: say what it is
        // and what to give instead (it said only "not a metaopt-dist optimizer file").
        let export = String(decoding: try JSONEncoder().encode(sample().exported()), as: UTF8.self)
        try assertRejected(export, containing: "is an export (\"format\": \"metaopt-dist.optimizer-export\"), which only other programs read; give the optimizer file it was exported from")
        // A checkpoint of the run (its φ in a binary format) given as the optimizer: "not valid JSON".
        let checkpoint = directory.appendingPathComponent("ckpt-0000000010.mopt")
        try Data(CheckpointHeader.magic + [UInt8](repeating: 0, count: 56)).write(to: checkpoint)
        XCTAssertThrowsError(try OptimizerFile.read(from: checkpoint)) {
            XCTAssert("\($0)".contains("is a training checkpoint, not an optimizer file: give the run's optimizer.json or best-optimizer.json"), "\($0)")
        }
        XCTAssertThrowsError(try OptimizerFile.read(from: directory.appendingPathComponent("missing.json"))) {
            XCTAssert("\($0)".contains("cannot be read"))
        }
    }

    /// A key given twice in one object is refused, at any depth: Foundation's decoder keeps the
    /// first value and Python's json module the last, so the two readers would load other weights
    /// (a second "phi") or another architecture without a word.
    func testAKeyGivenTwiceInOneObjectIsRefused() throws {
        let url = directory.appendingPathComponent("o.json")
        try sample().write(to: url)
        let text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        XCTAssertNoThrow(try OptimizerFile.read(from: url))
        func twice(_ key: String, in text: String) throws -> String {
            let range = try XCTUnwrap(text.range(of: "\"\(key)\":"), key)
            let value = text[range.upperBound...].prefix { $0 != "," && $0 != "}" }
            return text.replacingCharacters(in: range, with: "\"\(key)\":\(value),\"\(key)\":")
        }
        try assertRejected(try twice("iteration", in: text), containing: "gives 'iteration' more than once in one object")
        try assertRejected(try twice("hiddenSize", in: text), containing: "gives 'optimizer.hiddenSize' more than once in one object")
        // In UTF-16 and UTF-32 too, which both readers decode (.utf32: little-endian after its byte
        // order mark, FF FE 00 00, which JSONDecoder took for UTF-16's and refused).
        for encoding: String.Encoding in [.utf16LittleEndian, .utf16BigEndian, .utf16, .utf32LittleEndian, .utf32BigEndian, .utf32] {
            let encoded = directory.appendingPathComponent("encoded.json")
            try XCTUnwrap(text.data(using: encoding)).write(to: encoded)
            XCTAssertNoThrow(try OptimizerFile.read(from: encoded), "\(encoding)")
            try XCTUnwrap(try twice("iteration", in: text).data(using: encoding)).write(to: encoded)
            XCTAssertThrowsError(try OptimizerFile.read(from: encoded), "\(encoding)") {
                XCTAssert("\($0)".contains("gives 'iteration' more than once in one object"), "\(encoding): \($0)")
            }
        }
        // The same name in two objects, or as a string value, is no duplicate.
        XCTAssertEqual(JSONDiagnosis.duplicateKeys(in: Data(#"{"a": {"b": 1}, "c": {"b": "b", "d": [{"b": 2}, {"b": 3}]}}"#.utf8)), [])
        XCTAssertEqual(JSONDiagnosis.duplicateKeys(in: Data(#"{"a": {"b": 1, "c": [{"d": 1, "d": 2}], "b": 2}, "a\"": 1, "a\"": 2}"#.utf8)),
                       [["a", "b"], ["a", "c", "d"], [#"a""#]])
        // A key spelled with escapes is the same key to both decoders: the scan compares the names
        // after their escapes (it compared the spellings, and let a second "phi" through).
        XCTAssertEqual(JSONDiagnosis.duplicateKeys(in: Data(#"{"phi": 1, "\u0070hi": 2, "a\/b": 1, "a/b": 2, "\ud83d\ude00": 1, "😀": 2}"#.utf8)),
                       [["a/b"], ["phi"], ["😀"]])
        let escaped = text.replacingOccurrences(of: #""iteration":"#, with: #""\u0069teration":1,"iteration":"#)
        XCTAssertNotEqual(escaped, text)
        try assertRejected(escaped, containing: "gives 'iteration' more than once in one object")
    }

    /// An architecture stated twice, as hiddenSize and as hiddenSizes, is refused (each reader
    /// would otherwise pick one of them by its own rule); a negative iteration is refused.
    func testHiddenSizeAndHiddenSizesTogetherAndANegativeIterationAreRefused() throws {
        let url = directory.appendingPathComponent("o.json")
        try sample().write(to: url)
        let text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        XCTAssert(text.contains(#""hiddenSize":3"#), text.prefix(300).description)
        for sizes in ["[20,20]", "[5]", "null"] {
            try assertRejected(text.replacingOccurrences(of: #""hiddenSize":3"#, with: #""hiddenSize":3,"hiddenSizes":\#(sizes)"#),
                               containing: "give hiddenSize or hiddenSizes, not both")
        }
        // Neither: both are named (only hiddenSize was, as if hiddenSizes were not an option).
        try assertRejected(text.replacingOccurrences(of: #""hiddenSize":3,"#, with: ""),
                           containing: "is malformed at optimizer: states neither hiddenSize nor hiddenSizes")
        let iteration = try XCTUnwrap(text.range(of: #""iteration":\d+"#, options: .regularExpression))
        try assertRejected(text.replacingCharacters(in: iteration, with: #""iteration":-1"#),
                           containing: "states iteration -1; the meta-iteration φ was saved at is 0 or more")
        XCTAssertNoThrow(try OptimizerFile.read(from: url))
    }

    /// A program that builds an OptimizerFile of its own cannot save one that `read` refuses: a
    /// NaN in φ threw Foundation's bare EncodingError ("The data isn't in the correct format"),
    /// and an outputScale of 0 or a negative iteration were written and then refused on reading.
    func testWhatReadRefusesIsNotWritten() throws {
        var nan = sample()
        nan.phi[2] = .nan
        var scale = sample()
        scale.optimizer.outputScale = 0
        var negative = sample()
        negative.iteration = -1
        for (file, fragment) in [(nan, "holds non-finite parameters (φ[2] = nan)"), (scale, "outputScale must be positive"),
                                 (negative, "states iteration -1")] {
            let url = directory.appendingPathComponent("refused.json")
            XCTAssertThrowsError(try file.write(to: url)) {
                let error = $0 as? OptimizerFileError
                XCTAssertEqual(error?.path, url.path)
                XCTAssertTrue(error?.problem.hasPrefix("was not written: the file would not load again") == true, "\($0)")
                XCTAssertTrue(error?.problem.contains(fragment) == true, "\($0)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
        }
    }

    /// A path the file cannot be written at throws `OptimizerFileError` as every other failure
    /// of `write` does (it threw the package's own CheckpointError, which a caller cannot name).
    func testAPathThatCannotBeWrittenThrowsOptimizerFileError() throws {
        XCTAssertThrowsError(try sample().write(to: directory)) {
            let error = $0 as? OptimizerFileError
            XCTAssertEqual(error?.path, directory.path, "\($0)")
            XCTAssertTrue(error?.problem.hasPrefix("was not written: ") == true, "\($0)")
            XCTAssertTrue(error?.problem.contains("is a directory") == true, "\($0)")
            XCTAssertEqual(error?.refusalRepeats, true, "a directory in the file's place is there on a restart too")
        }
    }

    /// `train --init-from` with a file of one optimizer starts every optimizer of a run with one
    /// per parameter kind from its weights; any other architecture difference is refused.
    func testWarmStartCopiesOneOptimizerIntoEveryKind() throws {
        let file = sample(), url = directory.appendingPathComponent("one.json")
        try file.write(to: url)
        var perKind = file.optimizer
        perKind.optimizerCount = 2
        let config = TrainingConfig(task: .quadratic(dimension: 4), optimizer: perKind)
        let state = try TrainingRun.warmStart(config: config, from: url)
        let layout = ParameterLayout(perKind)
        XCTAssertEqual(layout.blocks.count, 2)
        XCTAssertEqual(state.phi.count, 2 * file.phi.count)
        for block in layout.blocks {
            XCTAssertEqual(state.phi[block.range].map(\.bitPattern), file.phi.map(\.bitPattern))
        }

        // Two optimizers do not go into one or three, and one of another shape goes nowhere.
        var two = file
        two.optimizer = perKind
        two.phi = state.phi
        let twoURL = directory.appendingPathComponent("two.json")
        try two.write(to: twoURL)
        for count in [1, 3] {
            var other = perKind
            other.optimizerCount = count
            XCTAssertThrowsError(try TrainingRun.warmStart(config: TrainingConfig(task: .quadratic(dimension: 4), optimizer: other), from: twoURL)) {
                XCTAssert("\($0)".contains("holds an optimizer with architecture"), "\($0)")
            }
        }
        var wider = perKind
        wider.hiddenSizes = [4, 4]
        XCTAssertThrowsError(try TrainingRun.warmStart(config: TrainingConfig(task: .quadratic(dimension: 4), optimizer: wider), from: url))
    }
}
