import Foundation
import XCTest
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

    func testThreadEndsWithItsWatchdog() throws {
        let before = try watchdogThreads()
        for _ in 0..<5 {
            let watchdog = CollectiveWatchdog(rank: 0, pollInterval: 0.01)
            watchdog.guarding("probe") {}  // the first collective starts the thread
        }
        // Each thread notices within one poll interval that its watchdog is gone.
        let deadline = Date().addingTimeInterval(10)
        while try watchdogThreads() > before, Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertEqual(try watchdogThreads(), before)
    }

    /// A watchdog in use keeps its thread (MultiRankTests' CollectiveWatchdogTests check end to end
    /// that it still ends a collective past its deadline).
    func testThreadLivesWhileItsWatchdogDoes() throws {
        let before = try watchdogThreads()
        let watchdog = CollectiveWatchdog(rank: 0, pollInterval: 0.01)
        watchdog.guarding("probe") {}
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertEqual(try watchdogThreads(), before + 1)
        withExtendedLifetime(watchdog) {}
    }
}
