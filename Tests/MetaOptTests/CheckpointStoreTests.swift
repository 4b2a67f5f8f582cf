import Foundation
import XCTest
@testable import MetaOpt

final class CheckpointStoreTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("metaopt-checkpoint-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    private func names() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    private func latest(_ store: CheckpointStore) throws
        -> (checkpoint: Checkpoint<CheckpointTestConfiguration>, url: URL, warnings: [String])?
    {
        try store.loadLatest(CheckpointTestConfiguration.self)
    }

    private func modify(_ url: URL, _ change: (inout [UInt8]) -> Void) throws {
        var bytes = [UInt8](try Data(contentsOf: url))
        change(&bytes)
        try Data(bytes).write(to: url)
    }

    func testWriteAndLoadLatest() throws {
        let store = CheckpointStore(directory: directory)
        let first = try store.write(sampleCheckpoint(step: 10), step: 10)
        XCTAssertEqual(first.url.lastPathComponent, "ckpt-0000000010.mopt")
        XCTAssertEqual(first.removed, [])
        try store.write(sampleCheckpoint(step: 20), step: 20)
        XCTAssertEqual(try names(), ["ckpt-0000000010.mopt", "ckpt-0000000020.mopt"])  // no temporaries left
        let loaded = try XCTUnwrap(try latest(store))
        XCTAssertEqual(loaded.checkpoint, sampleCheckpoint(step: 20))
        XCTAssertEqual(loaded.url.lastPathComponent, "ckpt-0000000020.mopt")
        XCTAssertEqual(loaded.warnings, [])
        // The file is exactly the encoding.
        XCTAssertEqual([UInt8](try Data(contentsOf: loaded.url)), try sampleCheckpoint(step: 20).encode())
        // An explicit file, under any name.
        let copy = directory.appendingPathComponent("best.mopt")
        try FileManager.default.copyItem(at: first.url, to: copy)
        XCTAssertEqual(try CheckpointStore.load(copy, as: CheckpointTestConfiguration.self), sampleCheckpoint(step: 10))
    }

    func testNoCheckpointGivesNil() throws {
        XCTAssertNil(try latest(CheckpointStore(directory: directory)))
        try Data("unrelated".utf8).write(to: directory.appendingPathComponent("notes.txt"))
        XCTAssertNil(try latest(CheckpointStore(directory: directory)))
        XCTAssertNil(try latest(CheckpointStore(directory: directory.appendingPathComponent("missing"))))
    }

    func testWriteCreatesTheDirectory() throws {
        let store = CheckpointStore(directory: directory.appendingPathComponent("a/b/run"))
        try store.write(sampleCheckpoint(step: 1), step: 1)
        XCTAssertEqual(try latest(store)?.checkpoint.metadata.metaStep, 1)
    }

    func testLeftoverTemporaryFileIsIgnoredAndRemovedByTheNextWrite() throws {
        let store = CheckpointStore(directory: directory)
        try store.write(sampleCheckpoint(step: 10), step: 10)
        // A complete, valid checkpoint that never got renamed: still never loaded.
        let leftover = directory.appendingPathComponent(".ckpt-0000000020.mopt.4242-abc.tmp")
        try Data(try sampleCheckpoint(step: 20).encode()).write(to: leftover)
        let loaded = try XCTUnwrap(try latest(store))
        XCTAssertEqual(loaded.checkpoint.metadata.metaStep, 10)
        XCTAssertEqual(loaded.warnings.count, 1)
        XCTAssertTrue(loaded.warnings[0].contains(".ckpt-0000000020.mopt.4242-abc.tmp"), loaded.warnings[0])
        XCTAssertTrue(loaded.warnings[0].contains("leftover temporary file"), loaded.warnings[0])
        XCTAssertEqual(try store.temporaryFiles().map(\.lastPathComponent), [leftover.lastPathComponent])

        let result = try store.write(sampleCheckpoint(step: 30), step: 30)
        XCTAssertEqual(result.removed.map(\.lastPathComponent), [leftover.lastPathComponent])
        XCTAssertEqual(try names(), ["ckpt-0000000010.mopt", "ckpt-0000000030.mopt"])
    }

    func testTemporaryFilesAloneGiveNil() throws {
        try Data(try sampleCheckpoint(step: 20).encode())
            .write(to: directory.appendingPathComponent(".ckpt-0000000020.mopt.1-2.tmp"))
        XCTAssertNil(try latest(CheckpointStore(directory: directory)))
    }

    func testNewestCorruptFallsBackToThePreviousWithAWarning() throws {
        let store = CheckpointStore(directory: directory)
        for step in [10, 20, 30] { try store.write(sampleCheckpoint(step: step), step: step) }
        let newest = store.url(step: 30)

        try modify(newest) { $0[$0.count / 2] ^= 0x04 }
        var loaded = try XCTUnwrap(try latest(store))
        XCTAssertEqual(loaded.checkpoint, sampleCheckpoint(step: 20))
        XCTAssertEqual(loaded.warnings.count, 1)
        XCTAssertTrue(loaded.warnings[0].contains(newest.path), loaded.warnings[0])
        XCTAssertTrue(loaded.warnings[0].contains("payload checksum mismatch"), loaded.warnings[0])
        XCTAssertTrue(loaded.warnings[0].contains("ckpt-0000000020.mopt"), loaded.warnings[0])

        // Truncated newest (as after a crash without the write protocol), and the one before corrupt too.
        try modify(newest) { $0.removeLast(100) }
        try modify(store.url(step: 20)) { $0[9] ^= 0x01 }
        loaded = try XCTUnwrap(try latest(store))
        XCTAssertEqual(loaded.checkpoint, sampleCheckpoint(step: 10))
        XCTAssertEqual(loaded.warnings.count, 2)
        XCTAssertTrue(loaded.warnings[0].contains("ckpt-0000000030.mopt: truncated: expected"), loaded.warnings[0])
        XCTAssertTrue(loaded.warnings[1].contains("ckpt-0000000020.mopt: header checksum mismatch"), loaded.warnings[1])
    }

    func testNoUsableCheckpointNamesEveryFileAndReason() throws {
        let store = CheckpointStore(directory: directory, keep: 10)
        for step in [10, 20, 30, 40] { try store.write(sampleCheckpoint(step: step), step: step) }
        try modify(store.url(step: 40)) { $0.removeLast(1) }
        try modify(store.url(step: 30)) { $0[$0.count - 1] ^= 0xFF }
        try modify(store.url(step: 20)) { $0 = patchHeader($0, offset: 8, uint32: 99) }
        try Data("hello\n".utf8).write(to: store.url(step: 10))
        try FileManager.default.createDirectory(at: store.url(step: 5), withIntermediateDirectories: false)
        try Data().write(to: store.url(step: 1))
        XCTAssertThrowsError(try latest(store)) { error in
            guard let e = error as? CheckpointError, case .noUsableCheckpoint(let rejected) = e.problem else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(e.file, self.directory.path)
            XCTAssertEqual(rejected.map { URL(fileURLWithPath: $0.file).lastPathComponent },
                           [40, 30, 20, 10, 5, 1].map(CheckpointStore.fileName(step:)))
            let text = e.description
            for expected in ["ckpt-0000000040.mopt: truncated: expected",
                             "ckpt-0000000030.mopt: payload checksum mismatch",
                             "ckpt-0000000020.mopt: unsupported format version 99",
                             "ckpt-0000000010.mopt: not a checkpoint",
                             "ckpt-0000000005.mopt: not a regular file",
                             "ckpt-0000000001.mopt: truncated: expected 64 bytes, got 0"] {
                XCTAssertTrue(text.contains(expected), "missing \"\(expected)\" in:\n\(text)")
            }
            XCTAssertTrue(text.contains("no usable checkpoint among 6 file(s)"), text)
        }
    }

    func testKeepsTheLastN() throws {
        let store = CheckpointStore(directory: directory)  // keep 3
        for step in 1...6 { try store.write(sampleCheckpoint(step: step), step: step) }
        XCTAssertEqual(try store.checkpointFiles().map(\.step), [4, 5, 6])
        let one = CheckpointStore(directory: directory, keep: 1)
        let result = try one.write(sampleCheckpoint(step: 7), step: 7)
        XCTAssertEqual(result.removed.map(\.lastPathComponent), [4, 5, 6].map(CheckpointStore.fileName(step:)))
        XCTAssertEqual(try names(), ["ckpt-0000000007.mopt"])
    }

    func testPruningKeepsTheWrittenFileAndLeavesHigherSteps() throws {
        let store = CheckpointStore(directory: directory, keep: 2)
        for step in [100, 200] { try store.write(sampleCheckpoint(step: step), step: step) }
        for step in [10, 20, 30] { try store.write(sampleCheckpoint(step: step), step: step) }
        XCTAssertEqual(try store.checkpointFiles().map(\.step), [20, 30, 100, 200])
        // Rewriting a step replaces it atomically.
        var c = sampleCheckpoint(step: 30)
        c.tensors["phi"] = .float32([42])
        try store.write(c, step: 30)
        XCTAssertEqual(try CheckpointStore.load(store.url(step: 30), as: CheckpointTestConfiguration.self), c)
    }

    /// A directory named like a checkpoint (made by hand) is never removed and takes no place
    /// among the kept checkpoints; every write says so, instead of failing to unlink it.
    func testPruningLeavesADirectoryNamedLikeACheckpointAlone() throws {
        let store = CheckpointStore(directory: directory, keep: 2)
        let userDirectory = store.url(step: 3)
        try FileManager.default.createDirectory(at: userDirectory, withIntermediateDirectories: false)
        try Data("mine".utf8).write(to: userDirectory.appendingPathComponent("notes.txt"))
        // A symbolic link is pruned like a file; its target stays.
        let target = directory.appendingPathComponent("elsewhere.mopt")
        try Data(try sampleCheckpoint(step: 2).encode()).write(to: target)
        try FileManager.default.createSymbolicLink(at: store.url(step: 2), withDestinationURL: target)
        try store.write(sampleCheckpoint(step: 1), step: 1)
        var files: [Int] { (try? store.checkpointFiles().map(\.step)) ?? [] }
        for (step, expected) in [(4, [2, 3, 4]), (5, [3, 4, 5]), (6, [3, 5, 6])] {
            let result = try store.write(sampleCheckpoint(step: step), step: step)
            XCTAssertEqual(files, expected, "after writing \(step)")
            XCTAssertEqual(result.warnings, ["\(userDirectory.path) is a directory, not a checkpoint file: pruning leaves it alone (move it away to silence this)"])
        }
        XCTAssertEqual(try String(contentsOf: userDirectory.appendingPathComponent("notes.txt"), encoding: .utf8), "mine")
        XCTAssertTrue(FileManager.default.fileExists(atPath: target.path))
    }

    /// A damaged file with a checkpoint's name took a place among the kept ones, so `keep 3`
    /// left two usable checkpoints: only checkpoints that load count; a damaged one among the
    /// kept stays (with a warning), and goes, unread, once it is older than all of them.
    func testADamagedCheckpointTakesNoPlaceAmongTheKeptOnes() throws {
        let store = CheckpointStore(directory: directory, keep: 2)
        for step in [1, 2] { try store.write(sampleCheckpoint(step: step), step: step) }
        let damaged = store.url(step: 3)
        try Data(try sampleCheckpoint(step: 1).encode()).write(to: damaged)  // contents say step 1
        var files: [Int] { (try? store.checkpointFiles().map(\.step)) ?? [] }
        let kept = try store.write(sampleCheckpoint(step: 4), step: 4)
        XCTAssertEqual(files, [2, 3, 4])
        XCTAssertTrue(kept.warnings.contains { $0.hasPrefix("\(damaged.path) does not load (") && $0.hasSuffix("pruning neither counts nor removes it") },
                      "\(kept.warnings)")
        let past = try store.write(sampleCheckpoint(step: 5), step: 5)
        XCTAssertEqual(files, [4, 5])
        XCTAssertEqual(past.removed.map(\.lastPathComponent), [2, 3].map(CheckpointStore.fileName(step:)))
        XCTAssertTrue(past.warnings.isEmpty, "\(past.warnings)")
    }

    /// A name "ckpt-<digits>.mopt" whose step has more digits than an Int holds is no checkpoint
    /// the store can order: never loaded or pruned, but said, with or without a checkpoint.
    func testACheckpointNameWithTooManyDigitsIsIgnoredWithAWarning() throws {
        let store = CheckpointStore(directory: directory, keep: 1)
        let huge = directory.appendingPathComponent("ckpt-12345678901234567890123.mopt")
        try Data(try sampleCheckpoint(step: 40).encode()).write(to: huge)
        let expected = "ignored \(huge.path): not a usable checkpoint name (its step has 23 digits; a step has at most 18); it is neither loaded nor pruned"
        XCTAssertEqual(try store.unusableCheckpointNames(), [huge])
        XCTAssertEqual(try store.ignoredFileWarnings(), [expected])
        XCTAssertNil(try latest(store))
        for step in [10, 20] { try store.write(sampleCheckpoint(step: step), step: step) }
        let loaded = try XCTUnwrap(try latest(store))
        XCTAssertEqual(loaded.checkpoint.metadata.metaStep, 20)
        XCTAssertEqual(loaded.warnings, [expected])
        XCTAssertEqual(try names(), ["ckpt-0000000020.mopt", huge.lastPathComponent])
        // 19 digits are too many as well (the names the store writes have 10); 18 are a step.
        XCTAssertNil(CheckpointStore.step(fromFileName: "ckpt-1000000000000000000.mopt"))
        XCTAssertEqual(CheckpointStore.step(fromFileName: "ckpt-999999999999999999.mopt"), 999_999_999_999_999_999)
    }

    func testFileNameStepMustMatchContents() throws {
        let store = CheckpointStore(directory: directory)
        try store.write(sampleCheckpoint(step: 10), step: 10)
        try FileManager.default.copyItem(at: store.url(step: 10), to: store.url(step: 40))
        let loaded = try XCTUnwrap(try latest(store))
        XCTAssertEqual(loaded.checkpoint.metadata.metaStep, 10)
        XCTAssertEqual(loaded.warnings.count, 1)
        XCTAssertTrue(loaded.warnings[0].contains("file name says step 40, contents say step 10"), loaded.warnings[0])
    }

    /// A link in a step's place to another run's checkpoint: loading refuses it as another step,
    /// and the write of that step replaces the link, not the other run's file, which it used to
    /// overwrite (losing that run's newest checkpoint without a word).
    func testAWriteReplacesALinkInItsPlaceNotTheFileBehindIt() throws {
        let other = CheckpointStore(directory: directory.appendingPathComponent("other"))
        try other.write(sampleCheckpoint(step: 200), step: 200)
        let theirs = try Data(contentsOf: other.url(step: 200))
        let store = CheckpointStore(directory: directory.appendingPathComponent("run"))
        try store.write(sampleCheckpoint(step: 90), step: 90)
        try FileManager.default.createSymbolicLink(at: store.url(step: 100), withDestinationURL: other.url(step: 200))
        XCTAssertEqual(try latest(store)?.checkpoint.metadata.metaStep, 90)
        try store.write(sampleCheckpoint(step: 100), step: 100)
        XCTAssertEqual(try Data(contentsOf: other.url(step: 200)), theirs)
        let written = try FileManager.default.attributesOfItem(atPath: store.url(step: 100).path)
        XCTAssertEqual(written[.type] as? FileAttributeType, .typeRegular)
        XCTAssertEqual(try latest(store)?.checkpoint, sampleCheckpoint(step: 100))
        // A link to the folder of checkpoints is followed as before.
        let linked = directory.appendingPathComponent("linked")
        try FileManager.default.createSymbolicLink(at: linked, withDestinationURL: other.directory)
        try CheckpointStore(directory: linked).write(sampleCheckpoint(step: 300), step: 300)
        XCTAssertEqual(try latest(other)?.checkpoint.metadata.metaStep, 300)
    }

    func testWriteRejectsAStepOtherThanTheMetadatas() throws {
        let store = CheckpointStore(directory: directory)
        XCTAssertThrowsError(try store.write(sampleCheckpoint(step: 10), step: 11)) { error in
            guard case .stepMismatch = (error as? CheckpointError)?.problem else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try names(), [])
    }

    func testLoadingAMissingFileNamesIt() throws {
        let url = directory.appendingPathComponent("nope.mopt")
        XCTAssertThrowsError(try CheckpointStore.load(url, as: CheckpointTestConfiguration.self)) { error in
            XCTAssertEqual((error as? CheckpointError)?.problem, .io(operation: "open", errno: ENOENT))
            XCTAssertTrue("\(error)".hasPrefix(url.path + ": open failed: "), "\(error)")
        }
    }

    func testFileNames() {
        XCTAssertEqual(CheckpointStore.fileName(step: 0), "ckpt-0000000000.mopt")
        XCTAssertEqual(CheckpointStore.fileName(step: 12_345_678_901), "ckpt-12345678901.mopt")
        XCTAssertEqual(CheckpointStore.step(fromFileName: "ckpt-0000000042.mopt"), 42)
        XCTAssertEqual(CheckpointStore.step(fromFileName: "ckpt-7.mopt"), 7)
        for name in ["ckpt-.mopt", "ckpt-1a.mopt", "ckpt-1.mopt.tmp", ".ckpt-1.mopt.1-2.tmp", "ckpt--1.mopt", "x.mopt"] {
            XCTAssertNil(CheckpointStore.step(fromFileName: name), name)
        }
        XCTAssertTrue(CheckpointStore.isTemporaryFileName(".ckpt-0000000001.mopt.12-ab.tmp"))
        XCTAssertFalse(CheckpointStore.isTemporaryFileName("ckpt-0000000001.mopt"))
    }
}
