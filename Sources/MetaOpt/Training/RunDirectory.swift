import Foundation

/// Where a training run keeps its files (rank 0 writes them all).
package struct RunDirectory: Sendable {
    package let url: URL
    package init(_ url: URL) { self.url = url }
    package var checkpoints: URL { url.appendingPathComponent("checkpoints") }
    package var metrics: URL { url.appendingPathComponent("metrics.jsonl") }
    package var optimizer: URL { url.appendingPathComponent("optimizer.json") }
    /// The best-scoring φ of a run with validation, and its score.
    package var bestOptimizer: URL { url.appendingPathComponent("best-optimizer.json") }
    /// One line per validation.
    package var validationLog: URL { url.appendingPathComponent("validation.jsonl") }
    /// The run's settings (written by `metaopt-dist train`; `train --config` reads them back).
    package var config: URL { url.appendingPathComponent("config.json") }
    /// The live plot of the logs (`TrainingFigure`), redrawn during training.
    package var plot: URL { url.appendingPathComponent("plot.svg") }
    /// Held (`RunLock`) while a run trains here.
    package var lock: URL { url.appendingPathComponent(RunLock.fileName) }
    /// Where a run that does not resume moves the earlier run's checkpoints and best optimizer.
    package var previousCheckpoints: URL { url.appendingPathComponent("checkpoints.previous") }
    package var previousBestOptimizer: URL { url.appendingPathComponent("best-optimizer.previous.json") }
    /// Where a run that does not resume moves the earlier run's logs (a fresh start empties them).
    package var previousMetrics: URL { url.appendingPathComponent("metrics.previous.jsonl") }
    package var previousValidationLog: URL { url.appendingPathComponent("validation.previous.jsonl") }
    /// Where a resumed run moves a best-optimizer.json it cannot read.
    package var unreadableBestOptimizer: URL { url.appendingPathComponent("best-optimizer.unreadable.json") }

    /// The files a write replaces whole (through a temporary file beside it, `FileIO.temporaryName`):
    /// the logs too, which a resume rewrites without their dropped lines (a kill during that
    /// rewrite left a hidden full copy of metrics.jsonl at every such resume).
    var replacedFiles: [URL] { [config, optimizer, bestOptimizer, plot, metrics, validationLog] }

    /// Removes the temporary files that a write of `replacedFiles` interrupted by a crash left
    /// (hidden, the size of an optimizer file, and never removed otherwise); call it holding the
    /// run's lock, so that no write of this directory is under way. Returns the paths removed.
    func removeLeftoverTemporaries() -> [String] {
        // Not one a live process is writing (`plot RUN_DIR` writes plot.svg without the lock).
        FileIO.removeStaleTemporaries(in: url.path, of: replacedFiles.map(\.lastPathComponent))
    }

    /// The name of the run's own file (or the checkpoint folder) that `file` is or lies in, other
    /// than optimizer.json (the default output); nil when `file` is none of them. Paths are
    /// compared as the kernel resolves them (`FilePaths.canonical`), byte for byte.
    package func ownFile(at file: URL) -> String? {
        let canonical = FilePaths.canonical
        let target = canonical(file)
        for own in [metrics, validationLog, config, plot, bestOptimizer, lock, previousBestOptimizer, unreadableBestOptimizer,
                    previousMetrics, previousValidationLog]
        where FilePaths.sameBytes(canonical(own), target) {
            return own.lastPathComponent
        }
        for folder in [checkpoints, previousCheckpoints] {
            let path = canonical(folder)
            if FilePaths.sameBytes(target, path) || target.utf8.starts(with: (path + "/").utf8) { return folder.lastPathComponent + "/" }
        }
        return nil
    }

    /// Whether this directory is `path` or lies inside it, paths resolved and compared byte for
    /// byte as in `ownFile` (an --output there could never be a file).
    package func liesWithin(_ path: URL) -> Bool {
        let outer = FilePaths.canonical(path), directory = FilePaths.canonical(url)
        return FilePaths.sameBytes(directory, outer)
            || directory.utf8.starts(with: (outer.hasSuffix("/") ? outer : outer + "/").utf8)
    }
}
