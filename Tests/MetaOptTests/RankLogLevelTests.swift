import Logging
import XCTest
@testable import MetaOpt

/// The level policy of `--verbose` and `--log-level` across ranks, as `train --help` states it.
final class RankLogLevelTests: XCTestCase {
    func testRankZeroLogsAtTheRequestedLevel() {
        XCTAssertEqual(RankLogSettings.level(rank: 0, verbose: false, requested: nil), .info)
        XCTAssertEqual(RankLogSettings.level(rank: 0, verbose: true, requested: nil), .debug)
        XCTAssertEqual(RankLogSettings.level(rank: 0, verbose: true, requested: .error), .error)
    }

    func testOtherRanksLogWarningsUnlessVerbose() {
        XCTAssertEqual(RankLogSettings.level(rank: 1, verbose: false, requested: nil), .warning)
        XCTAssertEqual(RankLogSettings.level(rank: 1, verbose: false, requested: .debug), .warning)
        XCTAssertEqual(RankLogSettings.level(rank: 1, verbose: true, requested: nil), .debug)
        XCTAssertEqual(RankLogSettings.level(rank: 1, verbose: true, requested: .info), .debug)
        XCTAssertEqual(RankLogSettings.level(rank: 1, verbose: true, requested: .trace), .trace)
    }

    /// `--log-level error` means fewer lines on every rank, with `--verbose` too.
    func testALevelAboveWarningAppliesToEveryRank() {
        for verbose in [false, true] {
            XCTAssertEqual(RankLogSettings.level(rank: 3, verbose: verbose, requested: .error), .error)
            XCTAssertEqual(RankLogSettings.level(rank: 3, verbose: verbose, requested: .critical), .critical)
        }
    }
}
