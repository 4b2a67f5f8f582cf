import XCTest
@testable import MetaOpt

/// The message of a job whose ranks run different builds, and the check's one-rank case.
final class DifferingBuildsErrorTests: XCTestCase {
    func testTheMessageGroupsTheRanksOfEachBuildInRuns() {
        let a = "0.1.0 (commit aaaa)", b = "0.1.0 (commit bbbb)", c = "0.0.9 (commit unknown)"
        let text = DifferingBuildsError(identities: [a, a, a, b, a, c, b, b]).description
        XCTAssertTrue(text.hasPrefix("the ranks run different builds of metaopt-dist: ranks 0–2, 4: \(a); ranks 3, 6–7: \(b); rank 5: \(c). "), text)
        XCTAssertTrue(text.contains("copy the same binary to every host"), text)
        XCTAssertEqual(DifferingBuildsError.spans([0]), "0")
        XCTAssertEqual(DifferingBuildsError.spans([1, 2, 5, 7, 8, 9]), "1–2, 5, 7–9")
    }

    func testOneRankNeedsNoComparison() throws {
        XCTAssertNil(try LocalCommunicator().differingBuilds(identity: Provenance.buildIdentity))
        XCTAssertTrue(Provenance.buildIdentity.hasPrefix(Provenance.buildVersion + " (commit "), Provenance.buildIdentity)
    }
}
