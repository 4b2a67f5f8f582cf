import Foundation
import XCTest
@testable import MetaOpt
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The readers of optimizer files, checkpoints and data files refuse what is not a regular file
/// without blocking, cap sizes, and check every number of an optimizer file with a message naming
/// it (#20 findings 5, 6 and 11). Each test failed before the readers were hardened: the FIFO
/// reads hung (here: timed out), the sparse checkpoint trapped in `reserveCapacity`, the bad
/// numbers were accepted or reported as "not valid JSON" or "not a metaopt-dist optimizer file".
final class ReaderHardeningTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("reader-hardening-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// A FIFO in the scratch directory.
    func makeFIFO(_ name: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        guard mkfifo(path, 0o644) == 0 else { throw XCTSkip("mkfifo failed: errno \(errno)") }
        return path
    }

    /// Runs `body` on a thread of its own and fails when it takes longer than `seconds` (a read
    /// that blocks on `fifo`, which is then opened for writing so that the thread can end).
    func assertReturnsPromptly(fifo: String, seconds: Double = 5, _ what: String, _ body: @escaping @Sendable () -> Void,
                               file: StaticString = #filePath, line: UInt = #line) {
        let done = DispatchSemaphore(value: 0)
        Thread { body(); done.signal() }.start()
        if done.wait(timeout: .now() + seconds) == .timedOut {
            XCTFail("\(what) blocked for \(seconds) s on a FIFO", file: file, line: line)
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
            _ = done.wait(timeout: .now() + 5)
        }
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    // MARK: Finding 6: non-regular files

    func testFIFOAsOptimizerFileIsRefusedWithoutBlocking() throws {
        let fifo = try makeFIFO("optimizer.json")
        assertReturnsPromptly(fifo: fifo, "OptimizerFile.read") {
            let text = (try? OptimizerFile.read(from: URL(fileURLWithPath: fifo))).map { _ in "loaded" }
            XCTAssertNil(text)
        }
        XCTAssertTrue(message { _ = try OptimizerFile.read(from: URL(fileURLWithPath: fifo)) }.contains("\(fifo) is not a regular file"))
    }

    func testFIFOCheckpointIsSkippedWithoutBlocking() throws {
        let store = CheckpointStore(directory: directory)
        try store.write(sampleCheckpoint(step: 4), step: 4)
        let fifo = try makeFIFO(CheckpointStore.fileName(step: 8))
        nonisolated(unsafe) var loadedStep: Int?
        nonisolated(unsafe) var warnings: [String] = []
        assertReturnsPromptly(fifo: fifo, "CheckpointStore.loadLatest") {
            if let (checkpoint, _, w) = try? store.loadLatest(CheckpointTestConfiguration.self) {
                loadedStep = checkpoint.metadata.metaStep
                warnings = w
            }
        }
        XCTAssertEqual(loadedStep, 4, "falls back past the FIFO")
        XCTAssertTrue(warnings.joined().contains("not a regular file"), "\(warnings)")
    }

    func testFIFOAsIDXFileIsRefusedWithoutBlocking() throws {
        let fifo = try makeFIFO("train-images-idx3-ubyte")
        assertReturnsPromptly(fifo: fifo, "IDX.readImages") {
            do {
                _ = try IDX.readImages(path: fifo)
                XCTFail("a FIFO loaded as IDX")
            } catch {
                XCTAssertTrue("\(error)".contains("not a regular file"), "\(error)")
            }
        }
    }

    func testDevicesAndDirectoriesAreNamedForWhatTheyAre() throws {
        XCTAssertTrue(message { _ = try OptimizerFile.read(from: URL(fileURLWithPath: "/dev/null")) }
            .contains("/dev/null is not a regular file"))
        XCTAssertTrue(message { _ = try OptimizerFile.read(from: URL(fileURLWithPath: "/dev/zero")) }
            .contains("/dev/zero is not a regular file"))
        let text = message { _ = try OptimizerFile.read(from: self.directory) }
        XCTAssertTrue(text.contains("\(directory.path) is a directory"), text)
        XCTAssertFalse(text.contains("NSCocoaErrorDomain"), text)
        XCTAssertTrue(message { _ = try IDX.readImages(path: "/dev/zero") }.contains("not a regular file"))
    }

    /// A sparse checkpoint that states a terabyte is skipped, not reserved (which trapped).
    func testHugeSparseCheckpointIsSkipped() throws {
        let store = CheckpointStore(directory: directory)
        try store.write(sampleCheckpoint(step: 4), step: 4)
        let huge = store.url(step: 8).path
        let fd = open(huge, O_WRONLY | O_CREAT, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        guard ftruncate(fd, 1 << 40) == 0 else { close(fd); throw XCTSkip("no sparse files here") }
        close(fd)
        let (checkpoint, _, warnings) = try XCTUnwrap(store.loadLatest(CheckpointTestConfiguration.self))
        XCTAssertEqual(checkpoint.metadata.metaStep, 4)
        XCTAssertTrue(warnings.joined().contains("too large"), "\(warnings)")
    }

    // MARK: Findings 5 and 11: the numbers of an optimizer file

    /// A valid file's JSON with `edit` applied to its text.
    func writeEdited(_ edit: (String) -> String) throws -> URL {
        let config = LearnedOptimizerConfig(hiddenSizes: [3, 3], preprocessing: .logAndSign(p: 10), outputScale: 0.1)
        let phi: [Float] = ParameterLayout(config).initialParameters(key: RandomKey(seed: 5, horizon: 0, task: 0))
        let url = directory.appendingPathComponent("o.json")
        try OptimizerFile(optimizer: config, phi: phi, training: TrainingConfig(task: .quadratic(dimension: 4)), iteration: 7)
            .write(to: url)
        let text = try String(contentsOf: url, encoding: .utf8)
        let edited = edit(text)
        XCTAssertNotEqual(edited, text, "the edit applies")
        try Data(edited.utf8).write(to: url)
        return url
    }

    func assertRefused(_ edit: @escaping (String) -> String, saying expected: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let url = try writeEdited(edit)
        let text = message { _ = try OptimizerFile.read(from: url) }
        for e in expected {
            XCTAssertTrue(text.contains(e), "\"\(text)\" should say \"\(e)\"", file: file, line: line)
        }
        XCTAssertFalse(text.contains("NSCocoaErrorDomain"), text, file: file, line: line)
    }

    func replacing(_ pattern: String, with replacement: String) -> (String) -> String {
        { text in
            guard let range = text.range(of: pattern, options: .regularExpression) else { return text }
            return text.replacingCharacters(in: range, with: replacement)
        }
    }

    func testOptimizerFileFieldsAreChecked() throws {
        try assertRefused(replacing("\"optimizerCount\":1", with: "\"optimizerCount\":-1"), saying: ["optimizerCount must be at least 1"])
        try assertRefused(replacing("\"optimizerCount\":1", with: "\"optimizerCount\":100000"), saying: ["optimizerCount must be at most"])
        try assertRefused(replacing("\"outputScale\":0.1", with: "\"outputScale\":0"), saying: ["outputScale must be positive"])
        try assertRefused(replacing("\"outputScale\":0.1", with: "\"outputScale\":-1"), saying: ["outputScale must be positive"])
        try assertRefused(replacing("\"hiddenSize\":3", with: "\"hiddenSize\":100000000"), saying: ["hidden size must be at most"])
        try assertRefused(replacing("\"dimension\":4", with: "\"dimension\":-3"), saying: ["unusable training configuration", "dimension must be positive"])
        try assertRefused(replacing("\"dimension\":4", with: "\"dimension\":100000000"), saying: ["quadratic dimension must be at most"])
    }

    /// The engines use outputScale and p as 32-bit floats, and the log-sign input needs e^p as one
    /// (docs/optimizer-file.md): a value that rounds to zero as a Float (1e-50) or a p whose e^p
    /// overflows (100, which makes a zero gradient's input NaN) was read as usable.
    func testArchitectureNumbersTheFloatEngineCannotUseAreRefused() throws {
        try assertRefused(replacing("\"outputScale\":0.1", with: "\"outputScale\":1e-50"),
                          saying: ["outputScale must be positive as a 32-bit float", "underflows"])
        try assertRefused(replacing("\"p\":10", with: "\"p\":1e-50"),
                          saying: ["the preprocessing constant p must be positive as a 32-bit float", "underflows"])
        try assertRefused(replacing("\"p\":10", with: "\"p\":100"),
                          saying: ["the preprocessing constant p must be at most 88.72283908 (", "e^p"])
        XCTAssertEqual(LearnedOptimizerConfig(preprocessing: .logAndSign(p: 88.72283908), outputScale: 1e-44).problems(), [])
        XCTAssertEqual(LearnedOptimizerConfig(preprocessing: .logAndSign(p: 88.72283909)).problems().count, 1)
        try assertRefused(replacing("\"p\":10", with: "\"p\":1e-38"),
                          saying: ["the preprocessing constant p must be at least 1e-36 (log|g| / p"])
        XCTAssertEqual(LearnedOptimizerConfig(preprocessing: .logAndSign(p: 1e-36)).problems(), [])
    }

    /// Foundation's readers took a comma before ']' or '}' and skipped the values of keys they do
    /// not decode ("note": 01), where Python's json, which the Python package reads these files
    /// with, refuses the file: one file, two answers.
    func testOnlyStrictJSONIsRead() throws {
        try assertRefused({ $0.replacingOccurrences(of: "(\"phi\":\\[[^\\]]*)\\]", with: "$1,]", options: .regularExpression) }, saying: ["not valid JSON near \"phi\": a comma before ']' (at byte "])
        try assertRefused(replacing("\\}$", with: ",}"), saying: ["not valid JSON", "a comma before '}'"])
        for token in ["01", "1.", "-", "1e+", ".5", "+1", "tru"] {
            try assertRefused(replacing("^\\{", with: "{\"note\":\(token),"), saying: ["not valid JSON near \"note\": "])
        }
        try assertRefused(replacing("^\\{", with: "{\"note\":\"\\x\","), saying: ["an escape JSON does not have (\\x)"])
        // Bytes that are not UTF-8 in a string nothing reads (an overlong '/'): Python's json
        // refuses the whole file.
        let url = try writeEdited(replacing("^\\{", with: "{\"note\":\"XX\","))
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes.replaceSubrange(9..<11, with: [0xC0, 0xAF])
        try Data(bytes).write(to: url)
        let text = message { _ = try OptimizerFile.read(from: url) }
        XCTAssertTrue(text.contains("is not valid JSON near \"note\": a byte that is not UTF-8 (at byte 9)"), text)
        // Strict JSON with a key nothing reads still loads.
        XCTAssertNoThrow(try OptimizerFile.read(from: writeEdited(replacing("^\\{", with: "{\"note\":[1, -0.5e-3, true, null, \"\\u00e9\"],"))))
    }

    /// Foundation's JSONDecoder refuses some valid spellings of zero with an exponent (`0e1`,
    /// `0.00e5`, `-0.0e5`, not `0e10`): such a file "is malformed (The given data was not valid
    /// JSON.)", where Python's json reads it. They are read as the zeros they are, sign kept.
    func testZerosWithExponentsAreRead() throws {
        XCTAssertEqual(String(decoding: JSONSyntax.zerosSpeltPlainly(Data(#"[0e1,-0.0e5,0.00E+1,1e5,"0e1",10e1,0.5e1,00e1,-0e-0,0.0]"#.utf8)), as: UTF8.self),
                       #"[0  ,-0    ,0      ,1e5,"0e1",10e1,0.5e1,00e1,-0   ,0.0]"#)
        XCTAssertEqual(String(decoding: JSONSyntax.zerosSpeltPlainly(Data(#"{"a\"0e1":0e9}"#.utf8)), as: UTF8.self), #"{"a\"0e1":0  }"#)
        for (token, sign) in [("0e1", 0), ("0E9", 0), ("0.00e5", 0), ("-0.0e5", 1), ("-0.0e-1", 1), ("-0.00e+01", 1)] as [(String, UInt32)] {
            let phi = try OptimizerFile.read(from: writeEdited(replacing("\"phi\":\\[[^,]*,", with: "\"phi\":[\(token),"))).phi
            XCTAssertEqual(phi[0].bitPattern, sign << 31, token)
        }
        // A bad number is still refused where it is.
        try assertRefused(replacing("\"phi\":\\[[^,]*,", with: "\"phi\":[00e1,"), saying: ["not valid JSON near \"phi\"", "a number with a leading zero"])
        // Run files too.
        XCTAssertEqual(try RunSettings.parse(Data(#"{"seed": 0e1}"#.utf8), source: "f").values["seed"], .integer("0"))
    }

    func testBadNumbersAreNamed() throws {
        try assertRefused(replacing("\"phi\":\\[[^,]*,", with: "\"phi\":[1e-50,"), saying: ["phi[0]", "underflows"])
        try assertRefused(replacing("\"phi\":\\[[^,]*,", with: "\"phi\":[NaN,"), saying: ["not valid JSON near \"phi\""])
        // At the edge of a Float's range, by its digits: just past the midpoint between the largest
        // Float and 2^128, which the decoder refuses and which JSONSerialization's Double (an
        // NSDecimalNumber's, rounded down) took for the largest Float ("is malformed (The given
        // data was not valid JSON.)"); just below it, the largest Float, is read.
        try assertRefused(replacing("\"phi\":\\[[^,]*,", with: "\"phi\":[3.4028235677973368e38,"),
                          saying: ["phi[0]: 3.4028235677973368e38 is beyond the range of a 32-bit float"])
        try assertRefused(replacing("\"phi\":\\[[^,]*,", with: "\"phi\":[-3.4028235677973368e38,"),
                          saying: ["phi[0]: -3.4028235677973368e38 is beyond the range of a 32-bit float"])
        XCTAssertEqual(try OptimizerFile.read(from: writeEdited(replacing("\"phi\":\\[[^,]*,", with: "\"phi\":[3.4028235677973366e38,"))).phi[0],
                       .greatestFiniteMagnitude)
        // Every number is rounded to a Float once, from its digits (not through the nearest
        // Double, which lies exactly halfway between two Floats for these): the Python reader
        // rounds the same way, test_numbers_are_rounded_to_float32_once_from_their_digits.
        for (digits, bits) in [("1.0000000596046448", 0x3F80_0001), ("1.000000059604644775390625", 0x3F80_0000),
                               ("7.00649232162408536e-46", 0x0000_0001)] as [(String, UInt32)] {
            let phi = try OptimizerFile.read(from: writeEdited(replacing("\"phi\":\\[[^,]*,", with: "\"phi\":[\(digits),"))).phi
            XCTAssertEqual(phi[0].bitPattern, bits, digits)
        }
        try assertRefused(replacing("\"seed\":[0-9]+", with: "\"seed\":-1"), saying: ["training.seed", "must not be negative"])
        // It said "is malformed (The given data was not valid JSON.)".
        try assertRefused(replacing("\"hiddenSize\":3", with: "\"hiddenSize\":3.5"), saying: ["optimizer.hiddenSize: must be a whole number (got 3.5)"])
    }

    /// The long decimals of those messages, as the file spells them, not as NSDecimalNumber does.
    func testLongDecimalsAreShownInScientificNotation() {
        XCTAssertEqual(JSONDiagnosis.scientific("340282356779733680000000000000000000000"), "3.4028235677973368e38")
        XCTAssertEqual(JSONDiagnosis.scientific("-340282356779733680000000000000000000000"), "-3.4028235677973368e38")
        XCTAssertEqual(JSONDiagnosis.scientific("0.000000000000000000000000000000000000000000000700649232162408535"),
                       "7.00649232162408535e-46")
        XCTAssertEqual(JSONDiagnosis.scientific("123456.789012345678901"), "1.23456789012345678901e5")
        XCTAssertEqual(JSONDiagnosis.scientific("5"), "5e0")
        XCTAssertEqual(JSONDiagnosis.scientific("0"), "0")
        XCTAssertEqual(JSONDiagnosis.scientific("NaN"), "NaN")
    }

    func testOversizedOptimizerFileIsRefusedBeforeParsing() throws {
        let url = directory.appendingPathComponent("big.json")
        let fd = open(url.path, O_WRONLY | O_CREAT, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        guard ftruncate(fd, off_t(RegularFile.optimizerFileLimit + 1)) == 0 else { close(fd); throw XCTSkip("no sparse files here") }
        close(fd)
        XCTAssertTrue(message { _ = try OptimizerFile.read(from: url) }.contains("is too large"))
    }
}
