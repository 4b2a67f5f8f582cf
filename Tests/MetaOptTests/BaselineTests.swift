import XCTest
@testable import MetaOpt

/// Each baseline against values computed by hand from its formula (θ₀ = [1, −2], α = 0.1, and the
/// fixed gradient sequence below, not gradients of a function), three steps each.
final class BaselineTests: XCTestCase {
    let theta0: [Float] = [1, -2]
    let gradients: [[Float]] = [[0.5, -1], [0.2, 0.4], [-0.1, 0.3]]

    func trajectory(_ optimizer: any HandDesignedOptimizer) -> [[Float]] {
        var opt = optimizer
        opt.reset(dimension: 2)
        var theta = theta0
        return gradients.map { g in
            opt.step(theta: &theta, gradient: g)
            return theta
        }
    }

    func assertClose(_ actual: [[Float]], _ expected: [[Double]], accuracy: Float = 2e-6,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, file: file, line: line)
        for (a, e) in zip(actual, expected) {
            XCTAssertEqual(a.count, e.count, file: file, line: line)
            for (x, y) in zip(a, e) { XCTAssertEqual(x, Float(y), accuracy: accuracy, "\(actual)", file: file, line: line) }
        }
    }

    func testSGD() {
        // θ ← θ − 0.1 g
        // [1, −2] − [0.05, −0.1] = [0.95, −1.9]; − [0.02, 0.04] = [0.93, −1.94]; − [−0.01, 0.03] = [0.94, −1.97]
        assertClose(trajectory(SGD(learningRate: 0.1)), [[0.95, -1.9], [0.93, -1.94], [0.94, -1.97]])
    }

    func testNesterovMomentum() {
        // v ← 0.9 v + g; θ ← θ − 0.1 (g + 0.9 v)
        // 1: v = [0.5, −1];      g + 0.9v = [0.95, −1.9];   θ = [0.905, −1.81]
        // 2: v = [0.65, −0.5];   g + 0.9v = [0.785, −0.05]; θ = [0.8265, −1.805]
        // 3: v = [0.485, −0.15]; g + 0.9v = [0.3365, 0.165]; θ = [0.79285, −1.8215]
        let nag = NesterovMomentum(learningRate: 0.1)
        XCTAssertEqual(nag.momentum, 0.9)
        assertClose(trajectory(nag), [[0.905, -1.81], [0.8265, -1.805], [0.79285, -1.8215]])
    }

    func testRMSprop() {
        // s ← 0.9 s + 0.1 g²; θ ← θ − 0.1 g / (√s + 1e-8)
        // 1: s = [0.025, 0.1]; 0.1·0.5/√0.025 = 0.3162278, 0.1·1/√0.1 = 0.3162278 → θ = [0.6837722, −1.6837722]
        // 2: s = [0.0265, 0.106]; steps 0.1228590, −0.1228590 → θ = [0.5609132, −1.8066313]
        // 3: s = [0.02485, 0.1044]; steps −0.0634361, 0.0928477 → θ = [0.6243494, −1.8994789]
        let rms = RMSprop(learningRate: 0.1)
        XCTAssertEqual(rms.decay, 0.9)
        XCTAssertEqual(rms.epsilon, 1e-8)
        assertClose(trajectory(rms), [[0.6837722540, -1.6837722440], [0.5609132382, -1.8066312636],
                                      [0.6243493821, -1.8994789298]])
    }

    func testAdam() {
        // m ← 0.9 m + 0.1 g; v ← 0.999 v + 0.001 g²; θ ← θ − 0.1 m̂ / (√v̂ + 1e-8)
        // 1: m̂ = g, v̂ = g², so the step is 0.1·sign(g): θ = [0.9, −1.9]
        // 2: m = [0.065, −0.05], v = [0.00029, 0.0011] (×1/0.19 and ×1/0.001999 bias corrections)
        //    → θ = [0.8101425, −1.8654394]
        // 3: → θ = [0.7535256, −1.8568614]
        let adam = Adam(learningRate: 0.1)
        XCTAssertEqual([adam.beta1, adam.beta2, adam.epsilon], [0.9, 0.999, 1e-8])
        assertClose(trajectory(adam), [[0.9000000020, -1.9000000010], [0.8101424839, -1.8654394167],
                                       [0.7535255578, -1.8568614218]])
    }

    /// ε is added to √v̂, not inside the square root: with gradients near ε's scale the two differ
    /// by far more than rounding. One step from θ = [1, −2] with g = [1e-4, −1e-6], where m̂ = g and
    /// √v̂ = |g|, so the step is 0.1 · g / (|g| + 1e-8):
    /// θ₁ = 1 − 0.1 · 1e-4 / 1.0001e-4 = 0.90000999900; θ₂ = −2 + 0.1 · 1e-6 / 1.01e-6 = −1.90099009901
    /// (ε inside, √(g² + 1e-8), would give 0.9292893 and −1.9990001). Checked for the baseline and
    /// for φ's meta-optimizer (`AdamState`), which share the rule.
    func testAdamAddsEpsilonOutsideTheSquareRoot() {
        let expected: [[Double]] = [[0.9000099990, -1.9009900990]]
        var theta = theta0
        var adam = Adam(learningRate: 0.1)
        adam.reset(dimension: 2)
        adam.step(theta: &theta, gradient: [1e-4, -1e-6])
        assertClose([theta], expected)
        var phi = theta0
        var state = AdamState(count: 2)
        state.apply(gradient: [1e-4, -1e-6], to: &phi, learningRate: 0.1, step: 1)
        assertClose([phi], expected)
    }

    func testResetForgetsState() {
        for kind in BaselineKind.allCases {
            var opt = kind.make(learningRate: 0.1)
            opt.reset(dimension: 2)
            var scratch = theta0
            opt.step(theta: &scratch, gradient: [3, 7])  // leave some state behind
            let fresh = trajectory(kind.make(learningRate: 0.1))
            let reused = trajectory(opt)  // trajectory() resets first
            XCTAssertEqual(fresh, reused, "\(kind)")
            XCTAssertEqual(opt.kind, kind)
        }
    }

    func testParsing() throws {
        XCTAssertEqual(try BaselineKind(parsing: "  ADAM "), .adam)
        XCTAssertEqual(try BaselineKind(parsing: "RMSprop"), .rmsprop)
        XCTAssertEqual(try BaselineKind.parseList("sgd, adam,sgd,"), [.sgd, .adam])
        XCTAssertEqual(try BaselineKind.parseList("all"), BaselineKind.allCases)
        XCTAssertEqual(BaselineKind.allCases.map(\.displayName), ["SGD", "NAG", "RMSprop", "Adam"])
    }

    func testUnknownNameError() {
        XCTAssertThrowsError(try BaselineKind(parsing: "adamw")) { error in
            XCTAssertEqual(error as? BaselineError, .unknownName("adamw"))
            XCTAssertEqual("\(error)", "unknown baseline optimizer 'adamw'; valid names: sgd, nag, rmsprop, adam")
            XCTAssertEqual(error.localizedDescription,
                           "unknown baseline optimizer 'adamw'; valid names: sgd, nag, rmsprop, adam")
        }
        XCTAssertThrowsError(try BaselineKind.parseList("sgd,momentum")) { error in
            XCTAssertEqual(error as? BaselineError, .unknownName("momentum"))
        }
        XCTAssertEqual(try BaselineKind.parseList(" None "), [])
        // A list that names nothing, or mixes 'all' or 'none' with others, is no list.
        for list in ["", " , ", "all,none", "sgd,all", "none,adam"] {
            XCTAssertThrowsError(try BaselineKind.parseList(list)) { error in
                XCTAssertEqual(error as? BaselineError, .invalidList(list))
                XCTAssertTrue("\(error)".hasSuffix("'all' or 'none'; 'all' and 'none' stand alone"), "\(error)")
            }
        }
    }
}
