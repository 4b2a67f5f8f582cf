import XCTest
@testable import MetaOpt

final class PhiloxTests: XCTestCase {
    /// Known-answer vectors of Philox4x32-10 from Random123 (kat_vectors).
    func testKnownAnswers() {
        func check(_ c: Philox4x32.Counter, _ k: Philox4x32.Key, _ e: Philox4x32.Counter) {
            let r = Philox4x32.block(counter: c, key: k)
            XCTAssertEqual([r.0, r.1, r.2, r.3], [e.0, e.1, e.2, e.3])
        }
        check((0, 0, 0, 0), (0, 0), (0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8))
        check((0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff), (0xffff_ffff, 0xffff_ffff),
              (0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd))
        check((0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), (0xa409_3822, 0x299f_31d0),
              (0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1))
    }

    func testStreamsDependOnlyOnKey() {
        var a = RandomKey(seed: 7, horizon: 3, task: 11).stream(.function)
        var b = RandomKey(seed: 7, horizon: 3, task: 11).stream(.function)
        var c = RandomKey(seed: 7, horizon: 3, task: 12).stream(.function)
        let xa = (0..<10).map { _ in a.nextUInt32() }
        XCTAssertEqual(xa, (0..<10).map { _ in b.nextUInt32() })
        XCTAssertNotEqual(xa, (0..<10).map { _ in c.nextUInt32() })
    }

    func testNormalMoments() {
        var s = RandomKey(seed: 1, horizon: 0, task: 0).stream(.function)
        let n = 200_000
        var sum = 0.0, sumSq = 0.0
        for _ in 0..<n { let z = s.normal(); sum += z; sumSq += z * z }
        XCTAssertEqual(sum / Double(n), 0, accuracy: 0.01)
        XCTAssertEqual(sumSq / Double(n), 1, accuracy: 0.02)
        for bound in [1, 3, 10, 60000] {
            for _ in 0..<1000 { let i = s.integer(below: bound); XCTAssert(i >= 0 && i < bound) }
        }
    }
}
