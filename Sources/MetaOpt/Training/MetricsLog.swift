import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A JSON-lines file that rank 0 appends to: metrics.jsonl (one object per meta-step) and
/// validation.jsonl. A failed write (a full disk) names the file and the reason; the torn line it
/// may leave is dropped on resume (`truncate`).
final class MetricsLog {
    let path: String
    private let fd: Int32

    init(url: URL) throws {
        path = url.path
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw ResultFileError.system("cannot open \(path) for appending", errno) }
    }

    deinit { close(fd) }

    /// Appends one line, encoded by `JSONLineEncoder`.
    func append<Line: Encodable>(_ line: Line) throws {
        let bytes = Array(try JSONLineEncoder().encode(line).utf8)
        do {
            try FileIO.writeAll(fd, bytes, path)
        } catch let error as CheckpointError {
            guard case let .io(_, code) = error.problem else { throw error }
            throw ResultFileError.system("cannot append a line to \(path)", code)
        }
    }

    /// Drops the lines of meta-steps at or after `iteration` (they will be redone after a resume),
    /// blank lines, and lines that do not decode as `Line`; the kept lines stay byte for byte.
    /// Returns the numbers (from 1) of the lines dropped because they do not decode, for
    /// `undecodableLinesWarning`, except a last line without its newline: an append that the
    /// interruption cut short, of a meta-step after the checkpoint (each step's line is appended
    /// before its checkpoint is written), which the resumed run redoes.
    @discardableResult
    static func truncate<Line: Decodable & LoggedIteration>(_ url: URL, lines: Line.Type, before iteration: Int) throws -> [Int] {
        try truncated(url, lines: lines, before: iteration).undecodable
    }

    /// `truncate`, which also gives the kept lines decoded and the file's length after it: rank 0
    /// hands a resumed run's meta-steps to its `LivePlot`, whose first drawing read a long log
    /// whole again, inside a meta-step (2.5 million lines: over a minute, and the job was ended
    /// by the ranks waiting for it).
    static func truncated<Line: Decodable & LoggedIteration>(_ url: URL, lines: Line.Type, before iteration: Int) throws
        -> (undecodable: [Int], kept: [Line], bytes: Int) {
        guard let data = FileManager.default.contents(atPath: url.path) else { return ([], [], 0) }
        let decoder = JSONDecoder()
        let newline = UInt8(ascii: "\n")
        // The kept lines as ranges of `data` (a copy of each held a long log up to five times).
        var keptRanges: [Range<Data.Index>] = []
        var kept: [Line] = []
        var undecodable: [Int] = []
        var dropped = false
        var start = data.startIndex
        var number = 0
        while start < data.endIndex {
            let end = data[start...].firstIndex(of: newline) ?? data.endIndex
            number += 1
            let line = start..<end
            start = end == data.endIndex ? end : end + 1
            if line.isEmpty { dropped = true; continue }
            guard let decoded = try? decoder.decode(Line.self, from: data[line]) else {
                dropped = true
                let tornAppend = end == data.endIndex
                if !tornAppend { undecodable.append(number) }
                continue
            }
            if decoded.iteration < iteration {
                keptRanges.append(line)
                kept.append(decoded)
            } else {
                dropped = true
            }
        }
        // Rewritten only when a line goes (or the last one lacks its newline): a resume at the end
        // of a long log wrote a full copy of it, which needed as much free disk.
        let bytes = keptRanges.reduce(0) { $0 + $1.count + 1 }
        if dropped || bytes != data.count {
            var truncated = Data(capacity: bytes)
            for range in keptRanges {
                truncated.append(data[range])
                truncated.append(newline)
            }
            try ResultFile.writeAtomically(truncated, to: url)
        }
        return (undecodable, kept, bytes)
    }

    /// The warning of a resume whose `truncate` of `url` dropped the whole lines `numbers` because
    /// they do not decode (damaged: an append cut short is its file's last line, not counted): the
    /// meta-steps they held before the checkpoint are not redone. Names the first few lines, then
    /// a count; nil for none.
    static func undecodableLinesWarning(_ url: URL, lines numbers: [Int]) -> String? {
        guard !numbers.isEmpty else { return nil }
        let shown = 5
        var which = numbers.prefix(shown).map(String.init).joined(separator: ", ")
        if numbers.count > shown { which += " and \(numbers.count - shown) more" }
        let one = numbers.count == 1
        return "\(url.path): dropped \(one ? "1 line that does" : "\(numbers.count) lines that do") not parse (line\(one ? "" : "s") \(which)), "
            + "damaged: only what follows the checkpoint is redone, so what \(one ? "it" : "they") held before it stays missing"
    }
}
