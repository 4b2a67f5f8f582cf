import Foundation
import XCTest
@testable import MetaOpt

/// The golden files of the Python package (python/tests/data/): a learned optimizer, a recorded
/// gradient sequence and the θ trajectory the Swift engine makes of it over 100 steps. The Python
/// tests feed the same gradients to the numpy, PyTorch and optax optimizers and compare with the
/// trajectory; this test checks that the engine still makes the recorded trajectory, on every
/// kernel path this CPU has. With METAOPT_UPDATE_PYTHON_GOLDEN=1 it rewrites the files instead
/// (new φ, new gradients, trajectories recorded on the portable path and by the Double engine).
///
/// The optimizee replays the recording: its gradient at step t is g_t whatever θ is, so the
/// trajectory is θ_{t+1} = θ_t + update_t with no feedback through the function, and a
/// difference in one update cannot be hidden or amplified by the optimizee.
final class PythonGoldenTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("python/tests/data")
    static let steps = 100
    /// |θ_Float − θ_recorded| ≤ tolerance · (1 + |θ_recorded|) per coordinate and step: the kernel
    /// paths differ from the portable one by fused multiply-adds and GEMM summation order only.
    static let pathTolerance: Float = 5e-6
    static var updating: Bool { ProcessInfo.processInfo.environment["METAOPT_UPDATE_PYTHON_GOLDEN"] == "1" }

    /// One golden case: the architecture, how θ splits between the optimizers, and its seed.
    struct Case {
        var name: String
        var optimizer: LearnedOptimizerConfig
        var groups: [ParameterGroup]
        var seed: UInt64
        var dimension: Int { groups.last!.range.upperBound }
    }

    static let cases = [
        // The quadratics' optimizer: raw gradient in, output scale 1.
        Case(name: "raw", optimizer: LearnedOptimizerConfig(hiddenSizes: [20, 20]),
             groups: [ParameterGroup(range: 0..<40, optimizer: 0)], seed: 14),
        // The CNN's shape: log-sign (p = 10) input, output scale 0.1, two optimizers (optimizer0
        // for the first coordinates, as the CNN's convolution parameters, optimizer1 for the rest).
        Case(name: "logsign-two",
             optimizer: LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10),
                                               outputScale: 0.1, optimizerCount: 2),
             groups: [ParameterGroup(range: 0..<24, optimizer: 0), ParameterGroup(range: 24..<56, optimizer: 1)],
             seed: 15),
    ]

    /// What a golden file holds (python/tests/data/NAME.json; φ in NAME.optimizer.json).
    struct Golden: Codable, Equatable {
        var description: String
        var optimizerFile: String
        /// [start, end, optimizer index] per group of θ's coordinates.
        var groups: [[Int]]
        var theta0: [Float]
        /// g_t, the gradient the optimizer reads at step t = 0 … steps−1.
        var gradients: [[Float]]
        /// θ_t for t = 1 … steps from the Float engine on `kernels`.
        var theta: [[Float]]
        var kernels: String
        /// θ_t from the Double engine (exact elementary functions, Double arithmetic throughout).
        var thetaDouble: [[Double]]
    }

    /// Replays `gradients`: ∇f at step t is gradients[t] for any θ; the loss is g_t · θ.
    struct ReplayOptimizee: Optimizee {
        var theta0: [Float]
        var gradients: [[Float]]
        var groups: [ParameterGroup]
        var dimension: Int { theta0.count }
        var parameterGroups: [ParameterGroup] { groups }
        func initialParameters() -> [Float] { theta0 }
        func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int,
                             gradient: UnsafeMutableBufferPointer<Float>) -> Float {
            let g = gradients[min(step, gradients.count - 1)]
            var loss: Float = 0
            for i in 0..<dimension {
                gradient[i] = g[i]
                loss += g[i] * theta[i]
            }
            return loss
        }
    }

    /// Gradients over many magnitudes (|g| = 10^u, u uniform in [−9, 1]), with exact zeros, tiny
    /// values (below e^−10, the log-sign cut), a subnormal and both signs: every branch of the
    /// preprocessing runs.
    static func recordedGradients(dimension: Int, seed: UInt64) -> [[Float]] {
        var stream = RandomKey(seed: seed, horizon: 0, task: 0).stream(.minibatches)
        return (0..<steps).map { t in
            (0..<dimension).map { i in
                let u = stream.uniform()
                let magnitude = Foundation.pow(10, stream.uniform(-9, 1))
                let sign: Double = stream.uniform() < 0.5 ? -1 : 1
                if (i + t) % 17 == 0 { return 0 }
                if (i + 3 * t) % 23 == 0 { return Float(sign) * Float("1e-40")! }  // subnormal
                return Float(sign * magnitude * (u < 0.1 ? 1e-3 : 1))
            }
        }
    }

    /// φ: the initial draw plus uniform noise of ±0.3, so no gate sits at its initial value.
    static func noisyPhi(_ config: LearnedOptimizerConfig, seed: UInt64) -> [Float] {
        let layout = ParameterLayout(config)
        let key = RandomKey(seed: seed, horizon: 0, task: 0)
        var noise = key.stream(.auxiliary)
        return layout.initialParameters(key: key, as: Float.self).map { $0 + Float(noise.uniform(-0.3, 0.3)) }
    }

    static func trajectory<S: MetaScalar>(_ config: LearnedOptimizerConfig, phi: [Float], optimizee: ReplayOptimizee,
                                          kernelPath: KernelPath, as: S.Type) -> [[S]] {
        let engine = UnrollEngine<S>(layout: ParameterLayout(config), tasks: [optimizee], unroll: 1, kernelPath: kernelPath)
        var state = engine.initialState()
        var thetas: [[S]] = []
        let p = phi.map { S(Double($0)) }
        p.withUnsafeBufferPointer { engine.run(phi: $0, state: &state, steps: steps) { _, _, theta in thetas.append(Array(theta)) } }
        return thetas
    }

    func testEngineMakesTheRecordedTrajectories() throws {
        for c in Self.cases {
            let goldenURL = Self.directory.appendingPathComponent("\(c.name).json")
            let optimizerURL = Self.directory.appendingPathComponent("\(c.name).optimizer.json")
            if Self.updating { try Self.write(c, golden: goldenURL, optimizer: optimizerURL) }
            let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: goldenURL))
            let file = try OptimizerFile.read(from: optimizerURL)
            XCTAssertEqual(file.optimizer, c.optimizer, c.name)
            let export = try JSONDecoder().decode(ExportedOptimizer.self, from: Data(contentsOf: Self.exportURL(c)))
            XCTAssertEqual(export, file.exported(), "\(c.name): the export holds the optimizer file's φ")
            XCTAssertEqual(golden.groups, c.groups.map { [$0.range.lowerBound, $0.range.upperBound, $0.optimizer] })
            let optimizee = ReplayOptimizee(theta0: golden.theta0, gradients: golden.gradients, groups: c.groups)
            for path in KernelPath.supported {
                let thetas = Self.trajectory(file.optimizer, phi: file.phi, optimizee: optimizee, kernelPath: path, as: Float.self)
                XCTAssertEqual(thetas.count, golden.theta.count)
                var worst: Float = 0
                for (mine, recorded) in zip(thetas, golden.theta) {
                    for (a, b) in zip(mine, recorded) { worst = max(worst, abs(a - b) / (1 + abs(b))) }
                }
                #if arch(x86_64)
                // Recorded on x86-64 with the path's own products; the portable path's block shape
                // differs on AArch64, so its bits do too, and so do OpenBLAS's (METAOPT_MATRIX_PRODUCTS).
                if path == .portable && FloatKernels.matrixProductsOverride != false {
                    XCTAssertEqual(thetas, golden.theta, "\(c.name): the portable path is recorded bit for bit")
                }
                #endif
                print("\(c.name) on \(path.rawValue): largest difference from the recording \(worst)")
                XCTAssertLessThanOrEqual(worst, Self.pathTolerance, "\(c.name) on \(path.rawValue)")
            }
            let doubles = Self.trajectory(file.optimizer, phi: file.phi, optimizee: optimizee, kernelPath: .portable, as: Double.self)
            // To rounding: the Double GEMM's summation order is OpenBLAS's choice for the CPU.
            var worstDouble = 0.0
            for (mine, recorded) in zip(doubles, golden.thetaDouble) {
                for (a, b) in zip(mine, recorded) { worstDouble = max(worstDouble, abs(a - b) / (1 + abs(b))) }
            }
            XCTAssertEqual(doubles.count, golden.thetaDouble.count)
            XCTAssertLessThanOrEqual(worstDouble, 1e-13, "\(c.name): the Double engine's trajectory")
        }
    }

    static func write(_ c: Case, golden goldenURL: URL, optimizer optimizerURL: URL) throws {
        let phi = noisyPhi(c.optimizer, seed: c.seed)
        let gradients = recordedGradients(dimension: c.dimension, seed: c.seed)
        var init0 = RandomKey(seed: c.seed, horizon: 0, task: 0).stream(.initialParameters)
        let theta0 = (0..<c.dimension).map { _ in Float(init0.normal()) }
        let optimizee = ReplayOptimizee(theta0: theta0, gradients: gradients, groups: c.groups)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = OptimizerFile(optimizer: c.optimizer, phi: phi, training: nil, iteration: 0)
        try file.write(to: optimizerURL)
        try writeSorted(file.exported(), to: exportURL(c))
        let golden = Golden(
            description: "Written by Tests/MetaOptTests/PythonGoldenTests.swift (METAOPT_UPDATE_PYTHON_GOLDEN=1): "
                + "the optimizer in \(optimizerURL.lastPathComponent) (φ: initial draw plus noise, not trained) fed "
                + "gradients[t] at step t from theta0; theta[t] is θ after step t + 1.",
            optimizerFile: optimizerURL.lastPathComponent,
            groups: c.groups.map { [$0.range.lowerBound, $0.range.upperBound, $0.optimizer] },
            theta0: theta0, gradients: gradients,
            theta: trajectory(c.optimizer, phi: phi, optimizee: optimizee, kernelPath: .portable, as: Float.self),
            kernels: KernelPath.portable.rawValue,
            thetaDouble: trajectory(c.optimizer, phi: phi, optimizee: optimizee, kernelPath: .portable, as: Double.self))
        try writeSorted(golden, to: goldenURL)
    }

    /// The `metaopt-dist export` form of the same φ, for the Python reader's test of that format.
    static func exportURL(_ c: Case) -> URL { directory.appendingPathComponent("\(c.name).export.json") }

    static func writeSorted(_ value: some Encodable, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try ResultFile.writeAtomically(encoder.encode(value), to: url)
    }
}
