import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Standard output and standard error without traps. Foundation's `FileHandle.write(_:)` stops
/// the process when a write fails (stderr on a full disk or /dev/full, a closed pipe), and a log
/// line must never end a training run. Messages (`error`) are dropped when they cannot be
/// written, and counted; data (`output`) is the command's result, so a failed write throws.
package enum Console {
    private static let droppedMessages = Atomic<Int>(0)

    /// Messages `error` could not write so far.
    package static var droppedMessageCount: Int { droppedMessages.load(ordering: .relaxed) }

    /// Writes `text` to standard error with as few write(2) calls as it takes (one for a line of
    /// ordinary length, so lines of ranks sharing a file do not interleave); drops it on failure.
    package static func error(_ text: String) {
        if write(Array(text.utf8), to: STDERR_FILENO) != nil { droppedMessages.add(1, ordering: .relaxed) }
    }

    /// Writes `bytes` to standard output; throws when they cannot all be written.
    package static func output(_ bytes: some Sequence<UInt8>) throws(ConsoleError) {
        if let code = write(Array(bytes), to: STDOUT_FILENO) {
            throw ConsoleError(stream: "standard output", code: code)
        }
    }

    package static func output(_ text: String) throws(ConsoleError) { try output(text.utf8) }

    /// nil on success, else errno.
    private static func write(_ bytes: [UInt8], to descriptor: Int32) -> Int32? {
        bytes.withUnsafeBytes { buffer -> Int32? in
            var offset = 0
            while offset < buffer.count {
                let written = systemWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return nil
        }
    }

    private static func systemWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.write(fd, pointer, count)
        #else
        return Darwin.write(fd, pointer, count)
        #endif
    }
}

/// A write to standard output failed.
package struct ConsoleError: Error, CustomStringConvertible, Sendable {
    package var stream: String
    package var code: Int32
    package var description: String { "cannot write to \(stream): \(String(cString: strerror(code)))" }
}
