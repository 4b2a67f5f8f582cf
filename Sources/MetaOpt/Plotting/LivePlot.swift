import Foundation
import Logging

/// Rank 0 of `train`: keeps RUN_DIR/plot.svg (the `TrainingFigure` of the run's own logs) up to
/// date while the run goes on. `refreshIfDue()` redraws it when `interval` seconds of wall time
/// have passed since the last drawing (or since the start), `refresh()` at once (the end of the
/// run). Plotting never stops training: a failure logs one warning, the first; later ones are
/// logged at debug level.
final class LivePlot {
    let runDirectory: RunDirectory
    let interval: Double
    let logger: Logger
    private var last = DispatchTime.now()
    private var warned = false

    init(runDirectory: RunDirectory, interval: Double, logger: Logger) {
        self.runDirectory = runDirectory
        self.interval = interval
        self.logger = logger
    }

    func refreshIfDue() {
        if seconds(since: last) >= interval { refresh() }
    }

    func refresh() {
        defer { last = .now() }
        do {
            let log = try TrainingLog.load(runDirectory: runDirectory.url)
            try TrainingFigure.make([log]).write(to: runDirectory.plot)
        } catch {
            if warned {
                logger.debug("cannot write \(runDirectory.plot.path): \(error)")
            } else {
                warned = true
                logger.warning("cannot write \(runDirectory.plot.path): \(error); training goes on (later failures are logged at debug level)")
            }
        }
    }
}
