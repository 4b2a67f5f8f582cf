import ArgumentParser

/// `--seed` and `--validation-seed`: a whole number from 0 to 2⁶⁴ − 1. argument-parser's own
/// message for `--seed -1` or `--seed 1.5` ("The value '-1' is invalid for '--seed <seed>'") did
/// not say what a seed may be; this adds it.
enum SeedArgument {
    static func parse(_ text: String) throws -> UInt64 {
        guard let value = UInt64(text) else {
            throw ValidationError("a seed is a whole number from 0 to \(UInt64.max)")
        }
        return value
    }
}
