import Foundation
import Logging

/// Settings shared by every `RankLogHandler` of a process.
///
/// The rank is known only once MPI runs, after `LoggingSystem.bootstrap` (which may be called only
/// once per process), so handlers read it from here at each message instead of copying it.
package final class RankLogSettings: @unchecked Sendable {
    private let lock = NSLock()
    private var _rank: Int?
    private var _logLevel: Logger.Level

    /// The settings `RankLogHandler.init(label:)` uses.
    package static let shared = RankLogSettings()

    package init(rank: Int? = nil, logLevel: Logger.Level = .info) {
        _rank = rank
        _logLevel = logLevel
    }

    /// The rank written as the `[rank R]` prefix; no prefix while `nil`.
    package var rank: Int? {
        get { lock.withLock { _rank } }
        set { lock.withLock { _rank = newValue } }
    }

    /// Level of every handler that has not been given its own.
    package var logLevel: Logger.Level {
        get { lock.withLock { _logLevel } }
        set { lock.withLock { _logLevel = newValue } }
    }

    /// The level policy of a multi-rank job: rank 0 logs at `level` (default info; debug with
    /// `verbose`), the other ranks only warnings and errors unless `verbose` (then debug), so a
    /// job of N ranks does not print every progress line N times. An explicit `level` below
    /// debug (trace) applies to every rank when `verbose`; one above warning applies to all ranks.
    package static func level(rank: Int, verbose: Bool, requested: Logger.Level?) -> Logger.Level {
        if rank == 0 { return requested ?? (verbose ? .debug : .info) }
        if let requested, requested > .warning { return requested }
        if verbose { return Swift.min(requested ?? .debug, .debug) }
        return Swift.max(requested ?? .warning, .warning)
    }
}

/// A swift-log handler that writes one line per message to standard error, prefixed with the rank:
/// `[rank 3] warning train: message key=value`.
///
/// Each line is written with a single `write(2)`, so lines of ranks sharing a terminal or a file
/// do not interleave mid-line.
package struct RankLogHandler: LogHandler {
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let settings: RankLogSettings
    private var ownLevel: Logger.Level?

    package init(label: String, settings: RankLogSettings = .shared,
                metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.settings = settings
        self.metadataProvider = metadataProvider
    }

    package var logLevel: Logger.Level {
        get { ownLevel ?? settings.logLevel }
        set { ownLevel = newValue }
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        Console.error(format(event))
    }

    /// The line written for `event`, newline included.
    package func format(_ event: LogEvent) -> String {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        var line = ""
        if let rank = settings.rank { line += "[rank \(rank)] " }
        line += "\(event.level) \(label): \(event.message)"
        if let error = event.error { line += " error=\"\(error)\"" }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(value)"
        }
        return line + "\n"
    }
}

/// Process-wide installation of `RankLogHandler`.
package enum RankLogging {
    private final class Once: @unchecked Sendable {
        let lock = NSLock()
        var done = false
    }
    private static let once = Once()

    /// Makes `RankLogHandler` (with `RankLogSettings.shared`) the handler of every `Logger`.
    /// Safe to call more than once: `LoggingSystem.bootstrap` runs only the first time.
    package static func bootstrap() {
        once.lock.withLock {
            guard !once.done else { return }
            once.done = true
            LoggingSystem.bootstrap { label in RankLogHandler(label: label, settings: .shared) }
        }
    }
}
