#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// An exclusive advisory lock on a run directory, so that one training run at a time writes it
/// (two runs in one directory used to interleave their metrics, checkpoints and optimizer file).
///
/// The lock is `flock(2)` on RUN_DIR/train.lock, taken without waiting and held until this value
/// is released or the process ends: the kernel drops it when the process dies, however it dies, so
/// a lock of a dead process never blocks (the file stays behind, naming the last holder; it is
/// never removed, because removing a lock file races with a process that just opened it). The
/// file records the holder's pid, host and start time, which a refused run reports. flock is
/// advisory (only processes that ask are excluded) and, on network file systems, as reliable as
/// their lock support (NFSv4 maps it to a byte-range lock).
package final class RunLock: Sendable {
    /// The lock file's name in the run directory.
    package static let fileName = "train.lock"

    private let descriptor: Int32
    package let path: String
    private let directory: String
    /// The run directory itself, open: `checkInPlace` compares it with what the path names now.
    private let directoryDescriptor: Int32

    /// Takes the lock on `directory`, creating the directory if needed. Throws `RunLockError.held`
    /// with the holder's record when another process holds it; nothing in the directory changes
    /// then (the lock file is only opened).
    package init(directory: String) throws {
        try FileIO.makeDirectory(directory)
        self.directory = directory
        path = directory.hasSuffix("/") ? directory + Self.fileName : directory + "/" + Self.fileName
        // No O_TRUNC: the holder's record must survive a refused open.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o666)
        guard fd >= 0 else {
            // O_NOFOLLOW's ELOOP would read "Too many levels of symbolic links".
            if errno == ELOOP {
                throw CheckpointError(file: path, problem: .invalidArgument("is a symbolic link, so it cannot be the run's lock (remove it)"))
            }
            throw FileIO.error(path, "open the lock file")
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw CheckpointError(file: path, problem: .invalidArgument("is not a regular file, so it cannot be the run's lock"))
        }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            let holder = Self.record(fd)
            close(fd)
            if code == EWOULDBLOCK { throw RunLockError.held(directory: directory, holder: holder) }
            throw FileIO.error(path, "lock", code)
        }
        // Without the directory open `checkInPlace` could not see a move, so a failure refuses
        // the run (it needs read permission, which the run needs anyway to list its checkpoints).
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else {
            let code = errno
            close(fd)
            throw FileIO.error(directory, "open the run directory for reading", code)
        }
        descriptor = fd
        directoryDescriptor = directoryFD
        let host = ProcessInfo.processInfo.hostName
        let started = ISO8601DateFormatter().string(from: Date())
        let line = Array("pid \(getpid()) on host \(host) since \(started)\n".utf8)
        // Best effort: the lock itself is what excludes; the record only explains a refusal.
        if ftruncate(fd, 0) == 0 {
            _ = line.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            _ = fsync(fd)
        }
    }

    deinit {
        close(descriptor)
        close(directoryDescriptor)
    }

    /// Throws `RunDirectoryMovedError` when the run directory's path no longer names the directory
    /// the run started in: it was moved, renamed or removed while the run trained. Writing on
    /// would put the run's files in two places (the logs follow the open files, checkpoints and
    /// optimizer files the path) and let another run lock the path anew; the trainer checks
    /// before every checkpoint and before writing the optimizer into the run directory. (The
    /// directory, not train.lock: removing a lock file is harmless to the run that holds it.)
    package func checkInPlace() throws {
        var held = stat(), there = stat()
        guard fstat(directoryDescriptor, &held) == 0 else { return }
        guard stat(directory, &there) == 0, there.st_dev == held.st_dev, there.st_ino == held.st_ino else {
            // The kernel names where the directory is now (or adds " (deleted)").
            let now = FilePaths.linkTarget("/proc/self/fd/\(directoryDescriptor)").flatMap { $0.hasSuffix(" (deleted)") ? nil : $0 }
            throw RunDirectoryMovedError(directory: directory, now: now)
        }
    }

    /// The lock file's record ("pid 123 on host h since …"), at most one short line.
    private static func record(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return "a process that has not recorded itself yet" }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        return text.split(separator: "\n").first.map(String.init) ?? text
    }
}

/// The run directory was moved, renamed or removed while its run trained (`RunLock.checkInPlace`):
/// a restart at the old path would start over beside the moved files, so `train` ends with 65.
package struct RunDirectoryMovedError: Error, CustomStringConvertible {
    package var directory: String
    /// Where the directory is now; nil when it was removed.
    package var now: String?

    package var description: String {
        let whereTo = now.map { "it is now \($0): resume there with --run-dir \(shellQuoted($0))" } ?? "it was removed"
        return "\(directory): the run directory was moved, renamed or removed while this run trained: stopped rather than "
            + "write its files to two places (the meta-steps since its last checkpoint are lost); \(whereTo)"
    }
}

/// Another run holds the run directory.
package enum RunLockError: Error, CustomStringConvertible, Equatable {
    case held(directory: String, holder: String)

    package var description: String {
        switch self {
        case let .held(directory, holder):
            return "another train run is using the run directory \(directory) (\(holder)); wait for it to end, or give this run another --run-dir"
        }
    }
}
