import Foundation
import XCTest
@testable import MetaOpt

/// A fresh temporary directory, removed by the test's teardown.
func dataTestTemporaryDirectory(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("metaopt-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}

func dataTestWrite(_ bytes: [UInt8], to path: String, gzip: Bool = false) throws {
    try Data(gzip ? Gzip.compress(bytes) : bytes).write(to: URL(fileURLWithPath: path))
}

/// An IDX file: magic, big-endian dimensions, data.
func dataTestIDXBytes(magic: UInt32, dims: [Int], data: [UInt8]) -> [UInt8] {
    func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    return be(magic) + dims.flatMap { be(UInt32($0)) } + data
}

final class IDXTests: XCTestCase {
    let count = 7, rows = 3, cols = 4

    var pixels: [UInt8] { (0..<(count * rows * cols)).map { UInt8(($0 * 37 + 11) % 256) } }
    var labels: [UInt8] { (0..<count).map { UInt8(($0 * 3) % 10) } }

    /// Writes a split's images and labels as MNIST-style files into `dir`.
    func writeSplit(_ dir: String, split: DatasetSplit, gzip: Bool, labelCount: Int? = nil) throws {
        let names = IDXDirectory.fileNames(split)
        let suffix = gzip ? ".gz" : ""
        try dataTestWrite(dataTestIDXBytes(magic: 0x803, dims: [count, rows, cols], data: pixels),
                       to: "\(dir)/\(names.images)\(suffix)", gzip: gzip)
        let n = labelCount ?? count
        try dataTestWrite(dataTestIDXBytes(magic: 0x801, dims: [n], data: Array((labels + labels).prefix(n))),
                       to: "\(dir)/\(names.labels)\(suffix)", gzip: gzip)
    }

    func checkDataset(_ d: ImageDataset) {
        XCTAssertEqual(d.count, count)
        XCTAssertEqual([d.height, d.width, d.channels, d.classCount], [rows, cols, 1, 10])
        XCTAssertEqual(d.featureCount, rows * cols)
        XCTAssertEqual(d.labels, labels)
        XCTAssertEqual(d.images, pixels.map { Float($0) / 255 })
        XCTAssert(d.images.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    func testGzipRoundTrip() throws {
        let data = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        let packed = Gzip.compress(data)
        XCTAssert(Gzip.hasMagic(packed))
        XCTAssertEqual(try Gzip.decompress(packed, path: "x"), data)
        // Two concatenated members read as one stream, like gzip(1).
        XCTAssertEqual(try Gzip.decompress(packed + Gzip.compress([1, 2, 3]), path: "x"), data + [1, 2, 3])
        XCTAssertEqual(try Gzip.decompress(Gzip.compress([]), path: "x"), [])
    }

    func testRoundTripGzippedAndPlain() throws {
        for gzip in [true, false] {
            let dir = try dataTestTemporaryDirectory(self)
            try writeSplit(dir, split: .train, gzip: gzip)
            try writeSplit(dir, split: .test, gzip: gzip)
            checkDataset(try MNIST.load(directory: dir, split: .train))
            checkDataset(try FashionMNIST.load(directory: dir, split: .test))
            // Detected by content, not by name: a gzipped file without the suffix reads the same.
            let plainName = "\(dir)/renamed"
            try dataTestWrite(dataTestIDXBytes(magic: 0x801, dims: [count], data: labels), to: plainName, gzip: !gzip)
            XCTAssertEqual(try IDX.readLabels(path: plainName), labels)
        }
    }

    func testCacheReturnsSameData() throws {
        let dir = try dataTestTemporaryDirectory(self)
        try writeSplit(dir, split: .train, gzip: true)
        let a = try MNIST.load(directory: dir, split: .train)
        // Overwrite the files: a second load is served from the cache, so it is unchanged.
        try dataTestWrite(dataTestIDXBytes(magic: 0x801, dims: [count], data: [UInt8](repeating: 9, count: count)),
                       to: "\(dir)/train-labels-idx1-ubyte.gz", gzip: true)
        let b = try MNIST.load(directory: dir, split: .train)
        XCTAssertEqual(a.labels, b.labels)
        a.images.withUnsafeBufferPointer { pa in
            b.images.withUnsafeBufferPointer { pb in XCTAssertEqual(pa.baseAddress, pb.baseAddress) }
        }
    }

    /// Splits with images of different sizes (a hand-made data set) were read without a word, and
    /// evaluate tuned the baselines on one network and scored them on another.
    func testSplitsOfDifferentImageSizesAreRefused() throws {
        let dir = try dataTestTemporaryDirectory(self)
        try writeSplit(dir, split: .train, gzip: false)
        let names = IDXDirectory.fileNames(.test)
        try dataTestWrite(dataTestIDXBytes(magic: 0x803, dims: [count, rows, cols + 1], data: [UInt8](repeating: 1, count: count * rows * (cols + 1))),
                          to: "\(dir)/\(names.images)")
        try dataTestWrite(dataTestIDXBytes(magic: 0x801, dims: [count], data: labels), to: "\(dir)/\(names.labels)")
        _ = try MNIST.load(directory: dir, split: .train)
        assertDataError(names.images, { _ = try MNIST.load(directory: dir, split: .test) }, kind: {
            if case .malformed = $0 { return "\($0)".contains("has \(self.rows)×\(self.cols + 1) images, but \(dir)/train-images-idx3-ubyte has \(self.rows)×\(self.cols)") }
            return false
        })
    }

    /// Asserts that `body` throws a `DataError` whose text names `file` and matches `kind`.
    func assertDataError(_ file: String, _ body: () throws -> Void, kind: (DataError) -> Bool,
                         line: UInt = #line) {
        do {
            try body()
            XCTFail("no error", line: line)
        } catch let error as DataError {
            XCTAssert(kind(error), "unexpected error \(error)", line: line)
            XCTAssert(error.description.contains(file), "'\(error)' does not name \(file)", line: line)
        } catch {
            XCTFail("not a DataError: \(error)", line: line)
        }
    }

    func testErrors() throws {
        let dir = try dataTestTemporaryDirectory(self)
        // Missing directory / file: a missing directory is named, not a file in it (status 1
        // all the same: a mount may be there the next time).
        assertDataError("\(dir)/nothing", { _ = try MNIST.load(directory: "\(dir)/nothing", split: .train) },
                        kind: { $0 == .missingDirectory(path: "\(dir)/nothing") && !$0.isDamagedFile })
        XCTAssertEqual(DataError.missingDirectory(path: "d").description,
                       "d: no such directory (the data directory holds the data set's files)")
        assertDataError("\(dir)/absent", { _ = try IDX.readImages(path: "\(dir)/absent") },
                        kind: { if case .missingFile = $0 { true } else { false } })
        // A name the system cannot look up says why (a 300-character --data-dir said "no such file").
        let long = "\(dir)/" + String(repeating: "d", count: 300)
        assertDataError("File name too long", { _ = try MNIST.load(directory: long, split: .train) },
                        kind: { if case .unreadable = $0 { !$0.isDamagedFile } else { false } })
        // Wrong magic: a labels file read as images, and garbage.
        let labelsPath = "\(dir)/labels"
        try dataTestWrite(dataTestIDXBytes(magic: 0x801, dims: [count], data: labels), to: labelsPath)
        assertDataError(labelsPath, { _ = try IDX.readImages(path: labelsPath) },
                        kind: { $0 == .wrongMagic(path: labelsPath, expected: 0x803, found: 0x801) })
        XCTAssert(DataError.wrongMagic(path: "p", expected: 0x803, found: 0x801).description.contains("0x00000803"))
        // Truncated: in the header, in the data, and a gzip file cut short.
        let imagesPath = "\(dir)/images"
        let full = dataTestIDXBytes(magic: 0x803, dims: [count, rows, cols], data: pixels)
        try dataTestWrite(Array(full.dropLast(5)), to: imagesPath)
        assertDataError(imagesPath, { _ = try IDX.readImages(path: imagesPath) },
                        kind: { $0 == .truncated(path: imagesPath, expectedBytes: full.count, actualBytes: full.count - 5) })
        try dataTestWrite(Array(full.prefix(10)), to: imagesPath)
        assertDataError(imagesPath, { _ = try IDX.readImages(path: imagesPath) },
                        kind: { if case .truncated = $0 { true } else { false } })
        try dataTestWrite(full + [0], to: imagesPath)
        assertDataError(imagesPath, { _ = try IDX.readImages(path: imagesPath) },
                        kind: { if case .trailingData = $0 { true } else { false } })
        let gzPath = "\(dir)/images.gz"
        let packed = Gzip.compress(full)
        try dataTestWrite(Array(packed.prefix(packed.count / 2)), to: gzPath)
        assertDataError(gzPath, { _ = try IDX.readImages(path: gzPath) },
                        kind: { if case .badGzip = $0 { true } else { false } })
        // Corrupt deflate data after a valid gzip header.
        try dataTestWrite(Array(packed.prefix(10)) + [UInt8](repeating: 0xff, count: 40), to: gzPath)
        assertDataError(gzPath, { _ = try IDX.readImages(path: gzPath) },
                        kind: { if case .badGzip = $0 { true } else { false } })
        // Count mismatch between images and labels.
        let mismatch = try dataTestTemporaryDirectory(self)
        try writeSplit(mismatch, split: .test, gzip: true, labelCount: count + 1)
        assertDataError("\(mismatch)/t10k-labels-idx1-ubyte.gz", { _ = try MNIST.load(directory: mismatch, split: .test) },
                        kind: { if case .countMismatch(_, count, _, count + 1) = $0 { true } else { false } })
        // A label outside 0..<10.
        let badLabel = try dataTestTemporaryDirectory(self)
        try writeSplit(badLabel, split: .train, gzip: false)
        try dataTestWrite(dataTestIDXBytes(magic: 0x801, dims: [count], data: [0, 1, 2, 3, 4, 5, 10]),
                       to: "\(badLabel)/train-labels-idx1-ubyte")
        assertDataError("\(badLabel)/train-labels-idx1-ubyte", { _ = try MNIST.load(directory: badLabel, split: .train) },
                        kind: { if case .invalidLabel(_, 6, 10, 10) = $0 { true } else { false } })
        // A directory is not a file, and a restart would find it again (status 65).
        assertDataError(dir, { _ = try IDX.readLabels(path: dir) },
                        kind: { if case .notAFile = $0 { $0.isDamagedFile } else { false } })
        // A data directory that is a regular file is named as such (it was "no such file", status
        // 1, which a restart would meet again), for MNIST's lookup and for a plain read alike.
        let file = "\(dir)/a-file"
        try dataTestWrite([1, 2, 3], to: file)
        assertDataError(file, { _ = try MNIST.load(directory: file, split: .train) },
                        kind: { $0 == .notADirectory(path: file) && $0.isDamagedFile })
        assertDataError(file, { _ = try IDX.readLabels(path: file + "/labels") },
                        kind: { $0 == .notADirectory(path: file) })
    }

    /// The real Fashion-MNIST from the Debian package `dataset-fashion-mnist`, if installed.
    func testRealFashionMNIST() throws {
        let dir = FashionMNIST.defaultDirectory
        guard FileBytes.exists(dir + "/train-images-idx3-ubyte.gz") || FileBytes.exists(dir + "/train-images-idx3-ubyte") else {
            throw XCTSkip("Fashion-MNIST not found in \(dir) (install the Debian package dataset-fashion-mnist)")
        }
        let clock = ContinuousClock()
        let start = clock.now
        let train = try FashionMNIST.load(split: .train)
        let test = try FashionMNIST.load(split: .test)
        print("IDXTests: loaded Fashion-MNIST train + test in \(clock.now - start)")
        XCTAssertEqual(train.count, 60_000)
        XCTAssertEqual(test.count, 10_000)
        for d in [train, test] {
            XCTAssertEqual([d.height, d.width, d.channels, d.classCount], [28, 28, 1, 10])
            XCTAssertEqual(d.images.count, d.count * 784)
        }
        // Fashion-MNIST is balanced: 6,000 / 1,000 examples per class.
        XCTAssertEqual(train.labelCounts(), [Int](repeating: 6000, count: 10))
        XCTAssertEqual(test.labelCounts(), [Int](repeating: 1000, count: 10))
        let mean = train.images.prefix(784 * 1000).reduce(0, +) / Float(784 * 1000)
        XCTAssert(mean > 0.2 && mean < 0.4, "mean pixel \(mean)")
    }
}

/// Found unchecked by mutating the library: a header's zero dimension and the data fingerprint's
/// last bytes.
extension IDXTests {
    /// An images file with zero rows is refused by its header (a later precondition trapped).
    func testZeroRowsAreRefused() {
        let header: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 28]
        XCTAssertThrowsError(try IDX.header(header, path: "x", magic: IDX.imagesMagic)) { error in
            XCTAssertTrue("\(error)".contains("dimension 1 is zero"), "\(error)")
        }
    }

    /// The fingerprint the ranks compare to agree on their data sees every byte, the last words too.
    func testFingerprintSeesTheLastBytes() {
        var pixels = [UInt8](repeating: 7, count: 40)
        let first = ImageDataset(pixels: pixels, labels: [0], height: 5, width: 8, channels: 1, classCount: 1, source: "a").fingerprint
        pixels[35] = 8
        let second = ImageDataset(pixels: pixels, labels: [0], height: 5, width: 8, channels: 1, classCount: 1, source: "a").fingerprint
        XCTAssertNotEqual(first, second)
    }
}
