import XCTest
@testable import MetaOpt

/// The automatic collective deadline per activity: a validation, whose rounds each score a whole
/// function's horizon, and rank 0's writes get more than a meta-step's 60 s floor, which ended
/// healthy jobs (a validation function of 1,000 steps took past 60 s while the other rank waited).
final class RunActivityTests: XCTestCase {
    func testDeadlinesGrowWithWhatTheActivityDoes() {
        let step = RunActivity("meta-step 3")
        XCTAssertEqual(step.automaticDeadline(medianStep: nil), 300)
        XCTAssertEqual(step.automaticDeadline(medianStep: 0.06), 60)
        XCTAssertEqual(step.automaticDeadline(medianStep: 10), 100)
        // horizon 1000, unroll 1: 10 × 0.06 s × 1000 = 600 s.
        let validation = RunActivity("validation at meta-step 1", steps: 1000)
        XCTAssertEqual(validation.automaticDeadline(medianStep: 0.06), 600, accuracy: 1e-9)
        XCTAssertEqual(validation.automaticDeadline(medianStep: nil), 300)
        let write = RunActivity("checkpoint at meta-step 8", seconds: RunActivity.writeDeadline)
        XCTAssertEqual(write.automaticDeadline(medianStep: 0.06), 300)
        XCTAssertEqual(write.automaticDeadline(medianStep: 100), 1000)
        XCTAssertEqual("\(validation)", "validation at meta-step 1")
    }
}
