#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin POSIX wrappers that throw `CheckpointError.io` naming the path.
enum FileIO {
    static func error(_ path: String, _ operation: String, _ e: Int32 = errno) -> CheckpointError {
        CheckpointError(file: path, problem: .io(operation: operation, errno: e))
    }

    /// Whether a refused write of this file system's (`CheckpointError`, `ResultFileError`) would
    /// come back on a restart: a path that is no place for a file (a directory, a link to a
    /// stream, a file where a directory must be, a name too long) or a directory the process may
    /// not write (permissions, a read-only file system). A full disk or a failing device may be
    /// gone by then.
    static func refusalRepeats(_ error: any Error) -> Bool {
        let repeating: Set<Int32> = [EACCES, EPERM, EROFS, ENAMETOOLONG, ENOTDIR, EISDIR, ELOOP]
        switch error {
        case let error as CheckpointError:
            switch error.problem {
            case .invalidArgument: return true
            case let .io(_, code): return repeating.contains(code)
            default: return false
            }
        // A result file's write that failed past the checks (export and plot write without one).
        case let ResultFileError.system(_, code) as ResultFileError: return repeating.contains(code)
        default: return false
        }
    }

    /// The system's reason where `path` cannot be looked up for another reason than that it is
    /// not there (a name too long, a loop of links, no permission on a folder on the way); nil
    /// where it exists or is simply absent.
    static func lookupFailure(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) != 0, errno != ENOENT, errno != ENOTDIR else { return nil }
        return String(cString: strerror(errno))
    }

    /// Reads a whole regular file of at most `limit` bytes, without blocking on a FIFO
    /// (`RegularFile.read`).
    static func readAll(_ path: String, limit: Int = RegularFile.checkpointLimit) throws -> [UInt8] {
        do {
            return try RegularFile.read(path, limit: limit)
        } catch {
            if case let .system(operation, code) = error { throw self.error(path, operation, code) }
            if case .missing = error { throw self.error(path, "open", ENOENT) }
            if case .isDirectory = error { throw CheckpointError(file: path, problem: .invalidArgument("not a regular file (a directory)")) }
            if case .notRegular = error { throw CheckpointError(file: path, problem: .invalidArgument("not a regular file")) }
            throw CheckpointError(file: path, problem: .invalidArgument(error.reason))
        }
    }

    /// Creates `path` (which must not exist), writes `bytes`, fsyncs and closes it.
    /// On failure the file is removed. `replacing`: the regular file the new one will be renamed
    /// over, whose permissions (and, as root, owner and group) it takes, so that a private file
    /// stays private and a group's file stays the group's; a new file's are 0666 less the umask,
    /// as any program's (a group's shared run directory needs umask 002 to be honoured).
    static func writeNewFileDurably(_ path: String, _ bytes: [UInt8], replacing replaced: String? = nil) throws {
        try bytes.withUnsafeBytes { try writeNewFileDurably(path, $0, replacing: replaced) }
    }

    /// `writeNewFileDurably` of the bytes in `bytes` (a `Data`'s, without a copy).
    static func writeNewFileDurably(_ path: String, _ bytes: UnsafeRawBufferPointer, replacing replaced: String? = nil) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw error(path, "create") }
        var ok = false
        defer { if !ok { unlink(path) } }
        do {
            var old = stat()
            if let replaced, stat(replaced, &old) == 0, (old.st_mode & S_IFMT) == S_IFREG {
                // Owner first: fchown clears set-user-ID bits that fchmod then restores. Best
                // effort: the data matters more than its mode.
                if geteuid() == 0 { _ = fchown(fd, old.st_uid, old.st_gid) }
                _ = fchmod(fd, old.st_mode & 0o7777)
            }
            try writeAll(fd, bytes, path)
            try sync(fd, path)
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw error(path, "close") }
        ok = true
    }

    /// Writes all of `bytes` to `fd` (`path` names it in the error), resuming after short writes
    /// and EINTR.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path) }
    }

    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, _ path: String) throws {
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw error(path, "write")
            }
            offset += n
        }
    }

    /// The one atomic, durable replacement of a file: `bytes` go to the new file `temporary` (in
    /// the same directory as `path`), which is fsynced and renamed over `path` (atomic within a
    /// file system), then the directory is fsynced so that the rename survives a crash. A reader
    /// sees the old file or the new one, never a half-written one; on failure the temporary file
    /// is removed and `path` is untouched. When `directorySyncRequired` is false, a directory that
    /// cannot be opened or synced is tolerated (the data itself is durable by then).
    /// Only a regular file or a missing path is replaced; a symbolic link to a regular file is
    /// followed (the temporary file then goes next to the link's target): `writeTarget`. With
    /// `replacingLinks`, a link at `path` is itself replaced by the new file instead.
    static func replaceDurably(_ path: String, with bytes: [UInt8], temporary: String,
                               directorySyncRequired: Bool = true, replacingLinks: Bool = false) throws {
        var st = stat()
        let target = replacingLinks && lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK ? path : try writeTarget(path)
        if target != path {
            try replaceDurably(target, with: bytes, temporary: parent(of: target) + "/" + baseName(temporary),
                               directorySyncRequired: directorySyncRequired)
            return
        }
        do {
            try writeNewFileDurably(temporary, bytes, replacing: path)
            try move(temporary, path)
        } catch var error as CheckpointError {
            try? remove(temporary)
            // The temporary file is gone: the message names the file the caller asked for.
            if error.file == temporary { error.file = path }
            throw error
        }
        do {
            try syncDirectory(parent(of: path))
        } catch where !directorySyncRequired {}
    }

    /// fsync (on Darwin F_FULLFSYNC, which also flushes the drive's cache, falling back to fsync).
    static func sync(_ fd: Int32, _ path: String) throws {
        #if canImport(Darwin)
        if fcntl(fd, F_FULLFSYNC) == 0 { return }
        #endif
        while fsync(fd) != 0 {
            if errno == EINTR { continue }
            throw error(path, "fsync")
        }
    }

    /// Makes the directory entries of `path` durable: open O_RDONLY and fsync. File systems that
    /// cannot sync a directory (EINVAL) are tolerated: there rename is all we can do.
    static func syncDirectory(_ path: String) throws {
        do {
            try sync(path: path, flags: O_DIRECTORY, opening: "open directory")
        } catch let e as CheckpointError {
            if case .io(let operation, EINVAL) = e.problem, operation == "fsync" { return }
            throw e
        }
    }

    /// Makes the contents of the file at `path` durable through a descriptor of its own (fsync
    /// flushes the file, whichever descriptor names it): for a file another descriptor appends to.
    static func syncFile(_ path: String) throws {
        try sync(path: path, flags: 0, opening: "open")
    }

    /// open O_RDONLY with `flags`, fsync, close.
    private static func sync(path: String, flags: Int32, opening: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC | flags)
        guard fd >= 0 else { throw error(path, opening) }
        defer { close(fd) }
        try sync(fd, path)
    }

    /// rename(2): atomically replaces `to`.
    static func move(_ from: String, _ to: String) throws {
        guard rename(from, to) == 0 else { throw error(to, "rename from \(from)") }
    }

    /// Removes a file; a file that is already gone is not an error.
    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw error(path, "unlink") }
    }

    /// Names in a directory (without "." and ".."); nil if the directory does not exist.
    static func listDirectory(_ path: String) throws -> [String]? {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return nil }
            throw error(path, "open directory")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw error(path, "read directory") }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// mkdir -p; each directory it creates is made durable in its parent. Modes are 0777 less the
    /// umask, as mkdir(1)'s.
    static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o777) == 0 {
            try syncDirectory(parent(of: path))
            return
        }
        switch errno {
        case EEXIST:
            var st = stat()
            guard stat(path, &st) == 0 else {
                // A link to a path that is not there: said as such (it was "stat failed: No such
                // file or directory" of the link's own path, which does exist).
                throw danglingLink(path) ?? error(path, "stat")
            }
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw error(path, "mkdir", ENOTDIR) }
        case ENOENT where parent(of: path) != path:
            try makeDirectory(parent(of: path))
            try makeDirectory(path)
        default:
            throw error(path, "mkdir")
        }
    }

    static func parent(of path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard let slash = p.lastIndex(of: "/") else { return "." }
        let parent = String(p[..<slash])
        return parent.isEmpty ? "/" : parent
    }
}
