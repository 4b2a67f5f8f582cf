import Foundation
import XCTest
@testable import MetaOpt

/// Random bytes and random mutations of valid optimizer files, checkpoints and IDX files fed to
/// the readers (#20 item 9): each input must load or throw, never crash (which would end the test
/// process) or hang (the loop runs on a thread with a deadline). The seed is fixed, so a failure
/// repeats; each reader gets a fixed time budget (about 5 s, 15 s in all), so slower machines run
/// fewer cases of the same sequence.
final class ReaderFuzzTests: XCTestCase {
    static let seed: UInt64 = 0x5EED_F022
    static let budgetPerReader = 5.0

    /// SplitMix64: small, fast and the same everywhere.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
        mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
    }

    /// Numbers that break readers that trust them.
    static let hostileNumbers = ["-1", "0", "1e308", "-1e-50", "1e-50", "99999999999999999999", "9223372036854775807",
                                 "-9223372036854775808", "1.5", "NaN", "1e400", "4294967296", "100000000", "2147483648"]

    /// One random change: flip bits, overwrite, insert, delete, truncate, duplicate a slice, or
    /// (for text) put a hostile number where a number was.
    static func mutate(_ input: [UInt8], _ g: inout Generator, text: Bool) -> [UInt8] {
        var b = input
        let rounds = 1 + g.below(4)
        for _ in 0..<rounds {
            let i = g.below(b.count + 1)
            switch g.below(text ? 8 : 7) {
            case 0 where !b.isEmpty: b[min(i, b.count - 1)] ^= UInt8(1) << UInt8(g.below(8))
            case 1 where !b.isEmpty: b[min(i, b.count - 1)] = UInt8(truncatingIfNeeded: g.next())
            case 2: b.insert(contentsOf: g.bytes(1 + g.below(16)), at: i)
            case 3 where !b.isEmpty: b.removeSubrange(min(i, b.count - 1)..<min(b.count, i + 1 + g.below(64)))
            case 4: b = Array(b.prefix(i))
            case 5 where !b.isEmpty:
                let start = min(i, b.count - 1), end = min(b.count, start + 1 + g.below(32))
                b.insert(contentsOf: b[start..<end], at: g.below(b.count + 1))
            case 6: // an interesting 32- or 64-bit word (sizes and counts in binary headers)
                let words: [UInt64] = [0, 1, 0xFFFF_FFFF, 0x7FFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF, 0x7FFF_FFFF_FFFF_FFFF, 1 << 40]
                let w = words[g.below(words.count)]
                let width = g.below(2) == 0 ? 4 : 8
                for k in 0..<width where i + k < b.count { b[i + k] = UInt8(truncatingIfNeeded: w >> (8 * UInt64(k))) }
            case 7: // text: replace the number after position i
                let digits = Set("0123456789.-eE".utf8)
                guard let start = b[min(i, b.count)...].firstIndex(where: { digits.contains($0) }) else { break }
                let end = b[start...].firstIndex(where: { !digits.contains($0) }) ?? b.count
                b.replaceSubrange(start..<end, with: Array(hostileNumbers[g.below(hostileNumbers.count)].utf8))
            default: break
            }
        }
        return b
    }

    /// Runs `body` until the budget is spent, on a thread with a deadline of budget + 30 s.
    func fuzz(_ name: String, _ body: @escaping @Sendable (inout Generator) -> Void) -> Int {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var cases = 0
        let seed = Self.seed ^ UInt64(name.utf8.reduce(0) { $0 &* 31 &+ Int($1) } & 0xFFFF)
        Thread {
            var g = Generator(state: seed)
            let start = DispatchTime.now()
            while Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 < Self.budgetPerReader {
                body(&g)
                cases += 1
            }
            done.signal()
        }.start()
        if done.wait(timeout: .now() + Self.budgetPerReader + 30) == .timedOut {
            XCTFail("\(name): a case hung (after \(cases) cases)")
        }
        return cases
    }

    func testOptimizerFileReader() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-optimizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = LearnedOptimizerConfig(hiddenSizes: [3, 3], preprocessing: .logAndSign(p: 10), outputScale: 0.1)
        let phi: [Float] = ParameterLayout(config).initialParameters(key: RandomKey(seed: 5, horizon: 0, task: 0))
        let valid = directory.appendingPathComponent("valid.json")
        try OptimizerFile(optimizer: config, phi: phi, training: TrainingConfig(task: .quadratic(dimension: 4)), iteration: 7)
            .write(to: valid)
        let original = [UInt8](try Data(contentsOf: valid))
        let target = directory.appendingPathComponent("case.json")
        nonisolated(unsafe) var loaded = 0
        let cases = fuzz("optimizer file") { g in
            let input = g.below(10) == 0 ? g.bytes(g.below(512)) : Self.mutate(original, &g, text: true)
            try? Data(input).write(to: target)
            if (try? OptimizerFile.read(from: target)) != nil { loaded += 1 }
        }
        XCTAssertGreaterThan(cases, 100)
        print("optimizer file: \(cases) cases, \(loaded) loaded")
    }

    func testCheckpointReader() throws {
        var state = TrainerState(config: TrainingConfig(task: .quadratic(dimension: 4)))
        state.phi[0] = 0.5
        let step = Int64(state.iteration)
        let original = try TrainerCheckpoint.make(state, config: TrainingConfig(task: .quadratic(dimension: 4))).encode()
        nonisolated(unsafe) var loaded = 0
        let cases = fuzz("checkpoint") { g in
            var input = g.below(10) == 0 ? g.bytes(g.below(256)) : Self.mutate(original, &g, text: false)
            // Half the mutations get valid checksums again, so that they reach the payload parser
            // and the metadata JSON instead of stopping at the CRC.
            if g.below(2) == 0, input.count >= CheckpointHeader.size {
                let payload = Array(input[CheckpointHeader.size...])
                let keepLength = g.below(4) == 0
                let length = keepLength ? input[16..<24].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
                    : UInt64(payload.count)
                let header = CheckpointHeader(payloadLength: length, step: step,
                                              payloadChecksum: CRC32C.checksum(payload))
                input = header.encoded() + payload
            }
            do {
                let checkpoint = try Checkpoint<TrainingConfig>.decode(input, source: "fuzz")
                _ = try TrainerCheckpoint.state(from: checkpoint, source: "fuzz")
                loaded += 1
            } catch {}
        }
        XCTAssertGreaterThan(cases, 100)
        print("checkpoint: \(cases) cases, \(loaded) loaded")
    }

    func testIDXReader() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-idx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let images = dataTestIDXBytes(magic: 0x0000_0803, dims: [5, 3, 4], data: (0..<60).map { UInt8($0) })
        let labels = dataTestIDXBytes(magic: 0x0000_0801, dims: [5], data: [0, 1, 2, 3, 9])
        let path = directory.appendingPathComponent("case-idx").path
        nonisolated(unsafe) var loaded = 0
        let cases = fuzz("IDX") { g in
            let imagesCase = g.below(2) == 0
            var input = Self.mutate(imagesCase ? images : labels, &g, text: false)
            if g.below(4) == 0 { input = Gzip.compress(input) }
            if g.below(8) == 0 { input = Self.mutate(Gzip.compress(imagesCase ? images : labels), &g, text: false) }
            try? Data(input).write(to: URL(fileURLWithPath: path))
            do {
                if imagesCase { _ = try IDX.readImages(path: path) } else { _ = try IDX.readLabels(path: path) }
                loaded += 1
            } catch {}
        }
        XCTAssertGreaterThan(cases, 100)
        print("IDX: \(cases) cases, \(loaded) loaded")
    }
}
