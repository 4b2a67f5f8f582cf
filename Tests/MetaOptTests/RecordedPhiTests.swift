import Foundation
import XCTest
@testable import MetaOpt

/// φ after a few meta-steps, bit for bit, against values recorded on main before the engine was
/// restructured around LSTM layers (#16): a refactoring that claims "behaviour unchanged" must
/// leave every bit of φ where it was. (The trainer's digests were recorded again when coordinate
/// sharding made the fixed-point exponent allow for one meta-gradient part per tile, #15; the
/// avx2 and portable ones when those paths began to run the layers' products on their own kernel
/// instead of OpenBLAS's, and the avx512 ones when that path did too, #17. Since the AVX-512 path
/// pairs the forward products' terms on CPUs with add units of their own, Winograd's inner
/// products, it has a second set, recorded on a Zen 4: `paired`, checked where
/// `FloatKernels.pairsForwardProducts`, and the plain set elsewhere, e.g. with
/// `METAOPT_FORWARD_PRODUCTS=plain`; recorded again when the pairs began to leave the first
/// layer's inputs out, docs/performance-log.md, "The first layer's inputs kept out of the
/// pairs"; the avx2 ones again when that path began to sum each dW output's lanes per call,
/// "The dW outputs' lanes summed per call on AVX2", recorded on a Zen 3.) Recorded per kernel
/// path, since the path decides φ's last bits (`KernelPath`); a machine without a path checks the
/// others. Recorded on x86-64 (the portable path's block shape differs on AArch64, so its bits do
/// too) on an AMD EPYC (Zen 5); the same with OpenBLAS's own choice of kernels (Cooperlake), with
/// `OPENBLAS_CORETYPE=Haswell` and on a Zen 3 (Zen), since no path's LSTM arithmetic runs on
/// OpenBLAS. The MLP optimizee's own products do: its digest holds for OpenBLAS's multiply-add
/// kernels (`blasCoresOfTheMLPDigest`), not for older cores' (Sandybridge's, Prescott's: other bits).
final class RecordedPhiTests: XCTestCase {
    override func setUpWithError() throws {
        #if !arch(x86_64)
        throw XCTSkip("values recorded on x86-64")
        #endif
        if FloatKernels.matrixProductsOverride == false {
            throw XCTSkip("recorded with the paths' own layer products; METAOPT_MATRIX_PRODUCTS=openblas gives other bits")
        }
    }

    /// OpenBLAS core types whose sgemm gives the MLP digest's bits (checked on each).
    static let blasCoresOfTheMLPDigest: Set<String> = ["Haswell", "Zen", "Cooperlake"]

    /// FNV-1a over φ's bit patterns: one number that changes if any bit of φ does.
    func digest(_ phi: [Float]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for value in phi {
            var bits = value.bitPattern
            for _ in 0..<4 {
                hash = (hash ^ UInt64(bits & 0xff)) &* 0x0000_0100_0000_01b3
                bits >>= 8
            }
        }
        return hash
    }

    func trainedPhi(_ config: TrainingConfig, path: KernelPath) throws -> [Float] {
        let trainer = try MetaTrainer(config: config, communicator: LocalCommunicator(), kernelPath: path)
        while !trainer.finished { try trainer.step() }
        return trainer.state.phi
    }

    /// The digest expected on `path`: `paired` on the AVX-512 path where it pairs the forward
    /// products, else the path's entry of `recorded`.
    func expected(_ recorded: [KernelPath: UInt64], paired: UInt64, on path: KernelPath) -> UInt64? {
        path == .avx512 && FloatKernels(.avx512).pairsForwardProducts ? paired : recorded[path]
    }

    func check(_ config: TrainingConfig, recorded: [KernelPath: UInt64], paired: UInt64, file: StaticString = #filePath,
               line: UInt = #line) throws {
        for path in KernelPath.supported {
            let phi = try trainedPhi(config, path: path)
            print("\(path.rawValue): φ digest 0x\(String(digest(phi), radix: 16)) (\(phi.count) values)")
            XCTAssertEqual(digest(phi), expected(recorded, paired: paired, on: path), "\(path.rawValue)", file: file, line: line)
        }
    }

    /// Two LSTM layers of 20 units ([20, 20], the paper's optimizer) on quadratics with raw
    /// gradients: 6 meta-steps over two horizons, two blocks.
    func testTwoLayersOfTwentyOnQuadratics() throws {
        let config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 8, blockSize: 4, unroll: 5,
                                    horizon: 15, iterations: 6, learningRate: 3e-3, seed: 5)
        XCTAssertEqual(config.optimizer.hiddenSizes, [20, 20])
        try check(config, recorded: [.avx512: 0xc83525c05204989a, .avx2: 0x062bebf80681b10b, .portable: 0x92269f1b13f89124],
                  paired: 0xc7f347a0d5252d43)
    }

    /// The same with the image tasks' input preprocessing (log and sign, p = 10) and output scale 0.1.
    func testTwoLayersOfTwentyWithPreprocessing() throws {
        var config = TrainingConfig(task: .quadratic(dimension: 7), metaBatch: 6, blockSize: 3, unroll: 4,
                                    horizon: 8, iterations: 5, learningRate: 1e-2, seed: 9)
        config.optimizer = LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10), outputScale: 0.1)
        try check(config, recorded: [.avx512: 0xa9cf4a0d0b83daf7, .avx2: 0xf549c68eaad229f4, .portable: 0x40e7991c290b1ae1],
                  paired: 0x89a4777214312409)
    }

    /// The engine on MLP optimizees (the image tasks' optimizer: [20, 20], log and sign, output
    /// scale 0.1): θ, the losses and the meta-gradient of two truncations after 6 plain steps.
    func testTwoLayersOfTwentyOnMLPs() throws {
        guard Self.blasCoresOfTheMLPDigest.contains(blasCoreName) else {
            // Where OpenBLAS did not know the CPU the binary restarts itself with the core of the
            // CPU's instructions (OpenBLASFallback); a test process cannot (OpenBLAS chose when it
            // loaded), so this test runs again in a new process of the test binary with that core.
            if let core = OpenBLASFallback.restartCore {
                try runAgainInAProcess(test: "testTwoLayersOfTwentyOnMLPs", openBLASCore: core)
                return
            }
            throw XCTSkip("the MLP optimizee's products run on OpenBLAS, whose \(blasCoreName) kernels give other bits")
        }
        let data = try ClassificationData(dataset: imageTestDataset(count: 40, height: 3, width: 4, classes: 4))
        let config = LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10), outputScale: 0.1)
        let layout = ParameterLayout(config)
        let phi: [Float] = layout.initialParameters(key: RandomKey(seed: 2, horizon: 0, task: 0))
        let recorded: [KernelPath: UInt64] = [.avx512: 0xa964623434275fa5, .avx2: 0x0673ef871ae5f25d, .portable: 0xf33f81e348b95e15]
        let paired: UInt64 = 0x065f930e8e2345fe
        for path in KernelPath.supported {
            let tasks: [any Optimizee] = (0..<2).map {
                MLPOptimizee(data: data, architecture: MLPArchitecture(hiddenSizes: [5]), batchSize: 8,
                             key: RandomKey(seed: 4, horizon: 0, task: $0))
            }
            let engine = UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: 5, kernelPath: path)
            var state = engine.initialState()
            phi.withUnsafeBufferPointer { engine.run(phi: $0, state: &state, steps: 6) }
            var g = [Float](repeating: 0, count: layout.count)
            for _ in 0..<2 {
                phi.withUnsafeBufferPointer { p in
                    g.withUnsafeMutableBufferPointer { _ = engine.truncation(phi: p, state: &state, gradient: $0) }
                }
            }
            let d = digest(state.theta + state.loss + g)
            print("\(path.rawValue): MLP engine digest 0x\(String(d, radix: 16))")
            XCTAssertEqual(d, expected(recorded, paired: paired, on: path), path.rawValue)
        }
    }

    /// Runs the test method `test` of this class in a new process of this test binary whose
    /// OpenBLAS loads with `core`, and fails unless it passed there. The process has the variables
    /// of the binary's restart, the marker among them, so it skips rather than starting yet another
    /// where the core does not give the digest's bits.
    func runAgainInAProcess(test: String, openBLASCore core: String, file: StaticString = #filePath,
                            line: UInt = #line) throws {
        let binary = try XCTUnwrap(FilePaths.linkTarget("/proc/self/exe"), "the test binary's path")
        let restart = OpenBLASFallback.restartVariables(core: core)
        let environment = ProcessInfo.processInfo.environment.merging(restart) { $1 }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["\(String(reflecting: Self.self))/\(test)"]  // XCTest's "Module.Class/method"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let name = "\(Self.self).\(test)"
        print("\(test) again with OPENBLAS_CORETYPE=\(core) (OpenBLAS chose \(blasCoreName) here):\n\(text)")
        XCTAssertEqual(process.terminationStatus, 0, "\(test) with OPENBLAS_CORETYPE=\(core)", file: file, line: line)
        XCTAssertTrue(text.contains("Test Case '\(name)' passed"), "\(test) with OPENBLAS_CORETYPE=\(core) did not pass",
                      file: file, line: line)
    }
}
