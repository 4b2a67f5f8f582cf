import Foundation
import XCTest

/// `--option -5` reaches the option's own check (argument-parser alone would read "-5" as an
/// option and answer "Missing value for '--option'"), on every subcommand, before MPI starts.
final class NegativeValueTests: XCTestCase {
    func testNegativeValuesGetTheOptionsOwnMessage() throws {
        let cases: [([String], String)] = [
            (["train", "--iterations", "-5"], "the number of iterations must not be negative (got -5)"),
            (["train", "--learning-rate", "-1e-3"], "the learning rate must be positive and finite (got -0.001)"),
            (["train", "--meta-batch", "-2"], "the meta-batch size must be positive (got -2)"),
            (["evaluate", "--optimizer", "none.json", "--steps", "-3"], "--steps must be positive"),
            (["bench", "--repetitions", "-1"], "--repetitions must be positive"),
            // Seeds are unsigned: argument-parser alone said only "The value '-1' is invalid".
            (["train", "--seed", "-1"], "invalid for '--seed <seed>': a seed is a whole number from 0 to 18446744073709551615"),
            (["train", "--validation-seed", "1.5"], "a seed is a whole number from 0 to 18446744073709551615"),
            (["evaluate", "--optimizer", "none.json", "--seed", "-3"], "a seed is a whole number from 0 to 18446744073709551615"),
        ]
        for (args, message) in cases {
            let result = try MPIJob.runSingleton(args: args, timeout: 30)
            XCTAssertEqual(result.status, 64, "\(args): \(result)")
            XCTAssertTrue(result.stderr.contains(message), "\(args) should say \"\(message)\":\n\(result)")
            XCTAssertFalse(result.stderr.contains("Missing value"), "\(args): \(result)")
        }
        // A range that starts below zero, given without "=" (it said "Missing value").
        let range = try MPIJob.runSingleton(args: ["train", "--initial-scaling", "-1,2", "--loss-scaling", "-2,-1", "--print-config"], timeout: 30)
        XCTAssertEqual(range.status, 0, "\(range)")
        XCTAssertTrue(range.stdout.contains("\"initial-scaling\": \"-1.0,2.0\"") && range.stdout.contains("\"loss-scaling\": \"-2.0,-1.0\""), "\(range)")
        // A mixture's negative weight, given without "=", meets the mixture's own check.
        let weight = try MPIJob.runSingleton(args: ["train", "--task", "mix", "--mixture", "-1*quadratic", "--print-config"], timeout: 30)
        XCTAssertEqual(weight.status, 64, "\(weight)")
        XCTAssertTrue(weight.stderr.contains("positive number") && !weight.stderr.contains("Missing value"), "\(weight)")
        // A flag given a negative number says so, instead of calling "-5" an unknown option.
        let flag = try MPIJob.runSingleton(args: ["train", "--verbose", "-5"], timeout: 30)
        XCTAssertEqual(flag.status, 64, "\(flag)")
        XCTAssertTrue(flag.stderr.contains("'--verbose' does not take any value, but '-5' was specified"), "\(flag)")
    }
}
