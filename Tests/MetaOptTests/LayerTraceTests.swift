import Foundation
import XCTest
@testable import MetaOpt

final class LayerTraceTests: XCTestCase {
    let data = try! ClassificationData(dataset: imageTestDataset(count: 40, height: 3, width: 4, classes: 4))

    func testTensorsTileTheParameters() {
        let mlp = MLPOptimizee(data: data, architecture: MLPArchitecture(hiddenSizes: [5, 3]), batchSize: 8,
                               key: RandomKey(seed: 1, horizon: 0, task: 0))
        let tensors = mlp.tensors
        XCTAssertEqual(tensors.map(\.name), ["W1", "b1", "W2", "b2", "W3", "b3"])
        XCTAssertEqual(tensors.map(\.range.count), [12 * 5, 5, 5 * 3, 3, 3 * 4, 4])
        XCTAssertEqual(tensors.first!.range.lowerBound, 0)
        XCTAssertEqual(tensors.last!.range.upperBound, mlp.dimension)
        for (a, b) in zip(tensors, tensors.dropFirst()) { XCTAssertEqual(a.range.upperBound, b.range.lowerBound) }
    }

    /// With SGD at rate η, step 1's distance moved is η times step 0's gradient RMS, tensor by tensor,
    /// and each row's gradient is the RMS of the gradient the optimizer saw at θ_t.
    func testTraceOfSGD() throws {
        let mlp = MLPOptimizee(data: data, architecture: MLPArchitecture(hiddenSizes: [5]), batchSize: 8,
                               key: RandomKey(seed: 2, horizon: 0, task: 0))
        let eta: Float = 0.5
        var trace = LayerTrace()
        try trace.record(BaselineOptimizer(kind: .sgd, learningRate: eta), on: mlp, tensors: mlp.tensors, steps: 3)
        XCTAssertEqual(trace.rows.count, 3 * 4)
        XCTAssertEqual(trace.rows.map(\.step), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
        var gradient = [Float](repeating: 0, count: mlp.dimension)
        let theta0 = mlp.initialParameters()
        _ = theta0.withUnsafeBufferPointer { t in gradient.withUnsafeMutableBufferPointer { mlp.lossAndGradient(at: t, step: 0, gradient: $0) } }
        for (k, tensor) in mlp.tensors.enumerated() {
            let rms = (tensor.range.map { Double(gradient[$0] * gradient[$0]) }.reduce(0, +) / Double(tensor.range.count)).squareRoot()
            XCTAssertEqual(trace.rows[k].moved, 0)
            XCTAssertEqual(trace.rows[k].gradient, rms, accuracy: 1e-9 + 1e-6 * rms)
            XCTAssertEqual(trace.rows[4 + k].moved, Double(eta) * rms, accuracy: 1e-6 * max(rms, 1e-3), tensor.name)
        }
        let csv = trace.csv().split(separator: "\n")
        XCTAssertEqual(csv.first, "step,optimizer,tensor,rms_moved,rms_gradient")
        XCTAssertEqual(csv.count, 1 + 12)
        XCTAssert(csv[1].hasPrefix("0,SGD,W1,0.0,"), String(csv[1]))
    }
}
