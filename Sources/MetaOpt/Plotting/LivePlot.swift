import Foundation
import Logging

/// Rank 0 of `train`: keeps RUN_DIR/plot.svg (the `TrainingFigure` of the run's own logs) up to
/// date while the run goes on. `refreshIfDue()` redraws it when `interval` seconds of wall time
/// have passed since the last drawing (or since the start), `refresh()` at once (the end of the
/// run). metrics.jsonl is read on from where the last drawing stopped (complete lines only), so
/// that a long run's refresh does not parse it all again. Plotting never stops training: a
/// failure logs one warning, the first; later ones are logged at debug level.
final class LivePlot {
    let runDirectory: RunDirectory
    let interval: Double
    let logger: Logger
    /// The run's lock: no drawing once the run directory moved (`RunLock.checkInPlace`), which
    /// would make a new directory at the old path.
    let lock: RunLock?
    private var last = DispatchTime.now()
    private var warned = false
    /// The meta-steps read so far, the bytes of metrics.jsonl they came from, and their lines.
    private var steps: [TrainingLog.Step] = []
    private var offset: UInt64 = 0
    private var lines = 0

    /// `logged`: the meta-steps of metrics.jsonl's first `loggedBytes` bytes, one line each, which
    /// the run has read already (a resume's `MetricsLog.truncated`); reading goes on from there.
    init(runDirectory: RunDirectory, interval: Double, logger: Logger, lock: RunLock? = nil,
         logged: [TrainingLog.Step] = [], loggedBytes: Int = 0) {
        self.runDirectory = runDirectory
        self.interval = interval
        self.logger = logger
        self.lock = lock
        steps = logged
        offset = UInt64(loggedBytes)
        lines = logged.count
    }

    func refreshIfDue() {
        if seconds(since: last) >= interval { refresh() }
    }

    /// `atEnd`: the run's last drawing, however the run ends (a failure's warning then does not
    /// say that training goes on: it said so as a full disk ended the run).
    func refresh(atEnd: Bool = false) {
        defer { last = .now() }
        do {
            try lock?.checkInPlace()
            try readNewSteps()
            var validation: [TrainingLog.Validation]? = nil
            if let data = FileManager.default.contents(atPath: runDirectory.validationLog.path) {
                validation = try TrainingLog.parseValidation(data, source: runDirectory.validationLog.path)
            }
            let log = TrainingLog(name: runDirectory.url.standardizedFileURL.lastPathComponent, steps: steps, validation: validation)
            try TrainingFigure.make([log]).write(to: runDirectory.plot)
        } catch {
            // The error names the file (a failed write: "cannot write …/plot.svg: …", said twice
            // before) or the log it could not read.
            if warned {
                logger.debug("plot.svg not updated: \(error)")
            } else if atEnd {
                warned = true
                logger.warning("plot.svg not updated at the end of the run: \(error)")
            } else {
                warned = true
                logger.warning("plot.svg not updated: \(error); training goes on (later failures are logged at debug level)")
            }
        }
    }

    /// Appends the meta-steps of the complete lines written since the last call.
    private func readNewSteps() throws {
        let url = runDirectory.metrics
        // Opened here rather than by Foundation, whose error for a missing file (the run
        // directory moved away) is an unreadable NSCocoaErrorDomain dump in the warning.
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileIO.error(url.path, "open") }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        let data = try handle.readToEnd() ?? Data()
        guard let end = data.lastIndex(of: UInt8(ascii: "\n")) else { return }
        let complete = data[data.startIndex...end]
        steps += try TrainingLog.parseMetrics(Data(complete), source: url.path, firstLine: lines + 1)
        offset += UInt64(complete.count)
        lines += complete.filter { $0 == UInt8(ascii: "\n") }.count
    }
}
