import Foundation
import XCTest
import MetaOpt
@testable import MetaOptMPI

/// The watchdog's thread lives as long as its watchdog: a library user's communicators come and
/// go, and each one's thread looked forever (one more thread per communicator).
final class CollectiveWatchdogThreadTests: XCTestCase {
    /// This process's watchdog threads (by the kernel's name of each, which the watchdog sets).
    private func watchdogThreads() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").filter { task in
            let name = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)
            return name == "collective-wdog\n"
        }.count
    }

    /// Polls until `condition` holds or 10 s pass.
    private func waitFor(_ condition: () throws -> Bool) rethrows {
        let deadline = Date().addingTimeInterval(10)
        while try !condition(), Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    }

    func testThreadEndsWithItsWatchdog() throws {
        let before = try watchdogThreads()
        var watchdogs = (0..<5).map { _ in CollectiveWatchdog(rank: 0, pollInterval: 0.01) }
        for watchdog in watchdogs { watchdog.guarding("probe") {} }  // the first collective starts the thread
        // Each thread names itself when it starts.
        try waitFor { try watchdogThreads() == before + 5 }
        XCTAssertEqual(try watchdogThreads(), before + 5)
        watchdogs.removeAll()
        // Each thread notices within one poll interval that its watchdog is gone.
        try waitFor { try watchdogThreads() == before }
        XCTAssertEqual(try watchdogThreads(), before)
    }

    /// A watchdog in use keeps its thread (MultiRankTests' CollectiveWatchdogTests check end to end
    /// that it still ends a collective past its deadline).
    func testThreadLivesWhileItsWatchdogDoes() throws {
        let before = try watchdogThreads()
        let watchdog = CollectiveWatchdog(rank: 0, pollInterval: 0.01)
        watchdog.guarding("probe") {}
        try waitFor { try watchdogThreads() == before + 1 }
        Thread.sleep(forTimeInterval: 0.1)  // many poll intervals
        XCTAssertEqual(try watchdogThreads(), before + 1)
        withExtendedLifetime(watchdog) {}
    }
}

/// The automatic deadline follows the median step, not the slowest (found unchecked by mutation).
final class CollectiveWatchdogDeadlineTests: XCTestCase {
    func testDeadlineIsTenMedianSteps() {
        let watchdog = CollectiveWatchdog(rank: 0)
        watchdog.setActivity(RunActivity("meta-step 3"))
        for seconds in [10.0, 10, 100] { watchdog.noteStep(seconds: seconds) }
        XCTAssertEqual(watchdog.deadline, 100)  // the slowest step's would be 1000
        watchdog.setTimeout(7)
        XCTAssertEqual(watchdog.deadline, 7)
        watchdog.setTimeout(0)
        XCTAssertNil(watchdog.deadline)
    }
}
