import Foundation
import MetaOpt
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-line status on standard error, rewritten in place (carriage return, then erase to the end
/// of the line), shown only when standard error is a terminal: redirected to a file or a pipe, and
/// with `--quiet`, nothing is written. Lines are cut to the terminal's width (a wrapped line could
/// not be rewritten) and drawn at most ten times a second unless forced. A terminal that says it
/// has no control sequences (TERM=dumb) gets spaces over the old line instead of the erase.
final class TerminalStatus {
    let enabled: Bool
    private let canErase: Bool
    private var lastDrawn: DispatchTime?
    private var visible = false
    private var visibleCount = 0

    init(enabled: Bool, canErase: Bool = ProcessInfo.processInfo.environment["TERM"] != "dumb") {
        self.enabled = enabled
        self.canErase = canErase
    }

    /// What ends a line drawn over one of `visibleCount` characters: the erase sequence, or spaces.
    private func eraseAfter(_ count: Int) -> String {
        canErase ? "\u{1B}[K" : String(repeating: " ", count: max(0, visibleCount - count))
    }

    /// Enabled when stderr is a terminal and not `quiet`.
    static func standardError(quiet: Bool) -> TerminalStatus {
        TerminalStatus(enabled: !quiet && isatty(STDERR_FILENO) == 1)
    }

    /// Draws `line`, unless the last drawing was less than 0.1 s ago and not `force` (for lines
    /// that say what runs now, which must not be left out).
    func show(_ line: String, force: Bool = false) {
        guard enabled else { return }
        let now = DispatchTime.now()
        if !force, let lastDrawn, now.uptimeNanoseconds - lastDrawn.uptimeNanoseconds < 100_000_000 { return }
        lastDrawn = now
        let width = max(20, Self.columns() - 1)
        let text = line.count > width ? String(line.prefix(width - 1)) + "…" : line
        Console.error("\r\(text)\(eraseAfter(text.count))" + (canErase ? "" : "\r\(text)"))
        visible = true
        visibleCount = text.count
    }

    /// Erases the status line (before other output goes to the terminal).
    func clear() {
        guard enabled, visible else { return }
        Console.error("\r\(eraseAfter(0))" + (canErase ? "" : "\r"))
        visible = false
        visibleCount = 0
    }

    static func columns() -> Int {
        var size = winsize()
        if ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 80
    }
}
