/// `--option -5` as `--option=-5`. argument-parser reads a word that starts with a dash as an
/// option, so `--iterations -5` used to end in "Missing value for '--iterations'" instead of the
/// option's own check ("the number of iterations must not be negative (got -5)"). A negative
/// number is never an option name here, so the word after a long option that looks like one
/// (-5, -0.5, -1e-3, -.5, -inf), or a comma list of numbers that starts with one (a range such as
/// `--initial-scaling -1,1`, which said "Missing value"), or any word a dash and a digit begin
/// (a mixture's negative weight, `--mixture "-1*quadratic"`, which should meet the mixture's own
/// check), is joined to it; everything else is left as it is.
enum NegativeValues {
    static func join(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var i = 0
        while i < arguments.count {
            let word = arguments[i]
            if word == "--" {  // everything after is positional
                result += arguments[i...]
                break
            }
            if word.hasPrefix("--"), !word.contains("="), i + 1 < arguments.count,
               isNegativeNumber(arguments[i + 1]) || isNumberListStartingNegative(arguments[i + 1])
                || startsWithDashAndDigit(arguments[i + 1]) {
                result.append(word + "=" + arguments[i + 1])
                i += 2
                continue
            }
            result.append(word)
            i += 1
        }
        return result
    }

    /// "-1*quadratic", "-2x": no option name starts with a digit.
    static func startsWithDashAndDigit(_ word: String) -> Bool {
        let scalars = Array(word.unicodeScalars.prefix(2))
        return scalars.count == 2 && scalars[0] == "-" && ("0"..."9").contains(scalars[1])
    }

    /// "-1,1", "-2,-1": comma-separated numbers, the first negative.
    static func isNumberListStartingNegative(_ word: String) -> Bool {
        let parts = word.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard parts.count > 1, isNegativeNumber(parts[0]) else { return false }
        return parts.dropFirst().allSatisfy { Double($0.trimmingCharacters(in: .whitespaces)) != nil }
    }

    /// "-" followed by a number Double can read (digits, a point, an exponent, inf, nan).
    static func isNegativeNumber(_ word: String) -> Bool {
        guard word.hasPrefix("-"), word.count > 1, !word.hasPrefix("--") else { return false }
        let rest = word.dropFirst()
        guard let first = rest.first, first.isNumber || first == "." || rest.lowercased().hasPrefix("inf")
                || rest.lowercased() == "nan" else { return false }
        return Double(word) != nil
    }
}
