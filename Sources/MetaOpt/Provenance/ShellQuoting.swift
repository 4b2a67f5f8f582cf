/// `argument` as one word a POSIX shell reads back as it is: unchanged when it holds only
/// characters no shell treats specially, else in single quotes (a quote inside as '\'').
package func shellQuoted(_ argument: String) -> String {
    let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%")
    if !argument.isEmpty && argument.allSatisfy({ safe.contains($0) }) { return argument }
    return "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// A path as an option's value in a command printed for the user to run: `shellQuoted`, with
/// "./" before a relative path that starts with "-", which would otherwise be read as an option
/// (`--optimizer -run/optimizer.json`: "Missing value for '--optimizer'").
package func shellQuotedPath(_ path: String) -> String {
    shellQuoted(path.hasPrefix("-") ? "./" + path : path)
}
