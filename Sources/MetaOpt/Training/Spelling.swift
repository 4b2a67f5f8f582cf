/// Guesses at what a mistyped name meant: a subcommand on the command line, a key in a run file.
package enum Spelling {
    /// Levenshtein distance: insertions, deletions and substitutions of characters.
    package static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// The first of `names` nearest to `word`, if at most `maxDistance` edits away.
    package static func closest(to word: String, among names: [String], maxDistance: Int) -> String? {
        let best = names.map { (name: $0, distance: editDistance($0, word)) }.min { $0.distance < $1.distance }
        return best.flatMap { $0.distance <= maxDistance ? $0.name : nil }
    }
}
