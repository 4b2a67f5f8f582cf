import Foundation
import XCTest
@testable import MetaOpt

/// The library's errors, printed as a Swift program usually prints them (`localizedDescription`),
/// give their message, not Foundation's "The operation could not be completed".
final class LocalizedErrorTests: XCTestCase {
    func testLocalizedDescriptionIsTheMessage() throws {
        let errors: [any Error] = [
            OptimizerFileError(path: "x.json", problem: "is a directory"),
            StepperError.missingTensor(name: "bias", in: "gradients"),
            TrainingError.invalidConfiguration(["metaBatch must be at least 1"]),
            EvaluationError.noFunctions,
            KernelPathError.unknown("fast"),
            CommunicatorError(function: "MPI_Allreduce", message: "failed"),
            DataError.missingFile(path: "train-images-idx3-ubyte"),
            BaselineError.unknownName("lbfgs"),
        ]
        for error in errors {
            XCTAssertEqual(error.localizedDescription, "\(error)")
        }
        // What `OptimizerFile.write` throws into a directory.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("localized-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = LearnedOptimizerConfig(hiddenSizes: [2])
        let file = OptimizerFile(optimizer: config, phi: [Float](repeating: 0, count: config.architecture.parameterCount),
                                 training: nil, iteration: 0)
        XCTAssertThrowsError(try file.write(to: dir)) { error in
            XCTAssertEqual(error.localizedDescription, "\(error)")
            XCTAssertTrue(error.localizedDescription.contains(dir.path), error.localizedDescription)
        }
        XCTAssertThrowsError(try OptimizerFile.read(from: dir)) { error in
            XCTAssertEqual(error.localizedDescription, "\(dir.path) is a directory")
        }
    }
}
