import Foundation
import XCTest
@testable import MetaOpt

final class CIFARTests: XCTestCase {
    /// `count` records with labels `(first + i) % 10` and pixels a function of (record, byte).
    func records(_ count: Int, first: Int) -> (bytes: [UInt8], labels: [UInt8], pixels: [UInt8]) {
        var bytes: [UInt8] = [], labels: [UInt8] = [], pixels: [UInt8] = []
        for i in 0..<count {
            let label = UInt8((first + i) % 10)
            let p = (0..<3072).map { UInt8(truncatingIfNeeded: ($0 &* 7 &+ (first + i) &* 131) % 251) }
            bytes.append(label); bytes += p
            labels.append(label); pixels += p
        }
        return (bytes, labels, pixels)
    }

    func testRoundTrip() throws {
        let dir = try dataTestTemporaryDirectory(self)
        var labels: [UInt8] = [], pixels: [UInt8] = []
        for b in 1...5 {
            let r = records(b, first: 10 * b)  // 1 + 2 + ... + 5 = 15 records
            try dataTestWrite(r.bytes, to: "\(dir)/data_batch_\(b).bin", gzip: b == 3)  // one gzipped file
            labels += r.labels; pixels += r.pixels
        }
        let t = records(4, first: 3)
        try dataTestWrite(t.bytes, to: "\(dir)/test_batch.bin")

        let train = try CIFAR10.load(directory: dir, split: .train)
        XCTAssertEqual(train.count, 15)
        XCTAssertEqual([train.height, train.width, train.channels, train.classCount], [32, 32, 3, 10])
        XCTAssertEqual(train.labels, labels)
        XCTAssertEqual(train.images, pixels.map { Float($0) / 255 })
        // CHW: the first 1,024 values of an image are its red channel.
        XCTAssertEqual(train.images[1024], Float(pixels[1024]) / 255)

        let test = try CIFAR10.load(directory: dir, split: .test)
        XCTAssertEqual(test.labels, t.labels)
        XCTAssertEqual(test.images, t.pixels.map { Float($0) / 255 })
    }

    func testErrors() throws {
        let dir = try dataTestTemporaryDirectory(self)
        func expect(_ path: String, _ kind: (DataError) -> Bool, _ body: () throws -> Void, line: UInt = #line) {
            do {
                try body()
                XCTFail("no error", line: line)
            } catch let e as DataError {
                XCTAssert(kind(e), "unexpected \(e)", line: line)
                XCTAssert(e.description.contains(path), "'\(e)' does not name \(path)", line: line)
            } catch { XCTFail("\(error)", line: line) }
        }
        // Missing: the first training file.
        expect("\(dir)/data_batch_1.bin", { if case .missingFile = $0 { true } else { false } }) {
            _ = try CIFAR10.load(directory: dir, split: .train)
        }
        // Truncated: not a whole number of records, and empty.
        let path = "\(dir)/test_batch.bin"
        try dataTestWrite(Array(records(2, first: 0).bytes.dropLast(100)), to: path)
        expect(path, { $0 == .truncated(path: path, expectedBytes: 2 * 3073, actualBytes: 2 * 3073 - 100) }) {
            _ = try CIFAR10.read(files: [path])
        }
        try dataTestWrite([], to: path)
        expect(path, { if case .truncated = $0 { true } else { false } }) { _ = try CIFAR10.read(files: [path]) }
        // A label above 9.
        var bad = records(3, first: 0).bytes
        bad[3073] = 12
        try dataTestWrite(bad, to: path)
        expect(path, { $0 == .invalidLabel(path: path, index: 1, label: 12, classCount: 10) }) {
            _ = try CIFAR10.read(files: [path])
        }
        // Bad gzip.
        try dataTestWrite([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff], to: path)
        expect(path, { if case .badGzip = $0 { true } else { false } }) { _ = try CIFAR10.read(files: [path]) }
    }

    /// A CNN on records read back from a CIFAR file: loss and gradient against the Double
    /// reference, which reads the data set's CHW pixels directly, so the network's HWC input rows
    /// must hold each record's three colour planes interleaved correctly. Two channels and three
    /// classes keep the finite differences cheap.
    func testCNNOnLoadedRecords() throws {
        let dir = try dataTestTemporaryDirectory(self)
        try dataTestWrite(records(8, first: 0).bytes, to: "\(dir)/test_batch.bin")
        let data = try ClassificationData(dataset: CIFAR10.load(directory: dir, split: .test), labelSubset: [0, 1, 2])
        XCTAssertEqual(data.count, 3)
        let arch = CNNArchitecture(convolutionChannels: [2], fullyConnectedSizes: [])
        let task = CNNOptimizee(data: data, architecture: arch, batchSize: 3, key: RandomKey(seed: 1, horizon: 0, task: 2))
        let theta = imageTestTheta(task.dimension, sd: 0.2, seed: 5)
        let examples = task.minibatchIndices(step: 1)
        imageTestCheckGradient(task, theta: theta, step: 1) {
            imageTestCNNLoss($0, architecture: arch, data: data, examples: examples)
        }
    }
}
