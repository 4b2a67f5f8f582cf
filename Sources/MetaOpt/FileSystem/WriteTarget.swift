import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a durable write (`FileIO.replaceDurably`) may replace, and the start-up check that a
/// later write will succeed.
///
/// The rules: a write replaces a regular file or creates a missing one. A directory, a device,
/// a FIFO or a socket is refused (renaming a file over `/dev/full` as root used to replace the
/// device node). A symbolic link is followed: the file it points to is replaced and the link
/// stays a link (renaming over the link used to replace the link and leave its target as it
/// was); a link to a missing file or to anything but a regular file is refused, and so is a link
/// to an open descriptor (/dev/stdout): renaming over its file would replace the file a stream
/// of the user's shell writes to, with all it held. A path ending in "/" names a directory and
/// is refused (the write would create a file without the slash). The check and the rename are
/// separate steps, so a target swapped in between by another process is not seen.
extension FileIO {
    /// The longest file name (bytes) of the file systems this runs on; the temporary names are
    /// kept within it.
    static let nameMax = 255

    /// The path a durable write to `path` replaces: `path` itself when it is a regular file or
    /// missing, the file a symbolic link points to when that is a regular file. Throws, naming
    /// `path`, for anything else.
    static func writeTarget(_ path: String) throws -> String {
        if path.hasSuffix("/") {
            throw CheckpointError(file: path, problem: .invalidArgument(directoryName))
        }
        var st = stat()
        if lstat(path, &st) != 0 {
            // ENOTDIR: a directory of the path is a file; `checkWritable` names it.
            if errno == ENOENT || errno == ENOTDIR { return path }
            throw error(path, "lstat")
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            return path
        case S_IFLNK:
            if FilePaths.leadsThroughADescriptor(path) {
                throw CheckpointError(file: path, problem: .invalidArgument(
                    "leads to an open file of this process (/proc/self/fd/N, as /dev/stdout does): a write renames a new file "
                    + "over its target, which would replace the file behind the stream with all it held; name that file itself"))
            }
            guard let resolved = realpath(path, nil) else {
                // A link that leads to something without a path (/dev/stdout of a pipe: "pipe:[…]").
                let what = stat(path, &st) == 0 ? "something that \(kind(st.st_mode))"
                    : errno == ELOOP ? "a loop of links" : "a missing file"
                throw CheckpointError(file: path, problem: .invalidArgument(
                    "is a symbolic link to \(what) (a write follows a link only to a regular file)"))
            }
            defer { free(resolved) }
            let target = String(cString: resolved)
            guard stat(target, &st) == 0 else { throw error(target, "stat") }
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                throw CheckpointError(file: path, problem: .invalidArgument(
                    "is a symbolic link to \(target), which \(kind(st.st_mode)) (a write follows a link only to a regular file)"))
            }
            return target
        default:
            throw CheckpointError(file: path, problem: .invalidArgument(
                "\(kind(st.st_mode)); only a regular file is replaced"))
        }
    }

    /// The path of a file URL made from what the user wrote: `url.path` drops a trailing "/", so
    /// `--output out/` would write a file `out`; refused instead, as `writeTarget` refuses it.
    /// (Foundation marks the URL of an existing directory so too: that one `writeTarget` refuses
    /// as the directory it is.)
    static func filePath(_ url: URL) throws -> String {
        var st = stat()
        guard !url.hasDirectoryPath || (stat(url.path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR) else {
            throw CheckpointError(file: url.path + "/", problem: .invalidArgument(directoryName))
        }
        return url.path
    }

    private static let directoryName = "ends in \"/\", which names a directory: give a file's name"

    /// "is a directory", "is a device", … for a message.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "is a directory"
        case S_IFCHR, S_IFBLK: return "is a device"
        case S_IFIFO: return "is a FIFO (named pipe)"
        case S_IFSOCK: return "is a socket"
        case S_IFLNK: return "is a symbolic link"
        case S_IFREG: return "is a regular file"
        default: return "is not a regular file"
        }
    }

    /// The suffix of a temporary file of this process: ".tmp-PID-R", R a random UInt32 written
    /// with all ten digits, so that every such name has the length the start-up check probes.
    static func temporarySuffix() -> String {
        let random = String(UInt32.random(in: 0 ... .max))
        return ".tmp-\(getpid())-" + String(repeating: "0", count: 10 - random.count) + random
    }

    /// Whether `entry` is a temporary name `temporaryName(for: name, suffix: temporarySuffix())`
    /// made: ".NAME.tmp-PID-R", R of ten digits.
    static func isTemporaryName(_ entry: String, of name: String) -> Bool {
        let prefix = "." + name + ".tmp-"
        guard entry.hasPrefix(prefix) else { return false }
        let parts = entry.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
        let digits = { (s: Substring) in !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber } }
        return parts.count == 2 && digits(parts[0]) && parts[1].count == 10 && digits(parts[1])
    }

    /// The process id in a temporary name ".NAME.tmp-PID-R"; nil for another name.
    static func temporaryNamePID(_ entry: String) -> pid_t? {
        guard let range = entry.range(of: ".tmp-", options: .backwards) else { return nil }
        return entry[range.upperBound...].split(separator: "-").first.flatMap { pid_t(String($0)) }
    }

    /// Removes the temporary files of `names` in `directory` that a killed writer left (hidden,
    /// as large as the file, and never removed otherwise), except those of a process that is
    /// still alive on this host: it may be writing them now. With `olderThan`, those changed in
    /// the last so many seconds are kept too: a process on another host that shares the directory
    /// (whose process ids say nothing here) may be writing them. Returns the paths removed.
    static func removeStaleTemporaries(in directory: String, of names: [String], olderThan age: Double? = nil) -> [String] {
        ((try? listDirectory(directory)) ?? []).sorted().compactMap { entry in
            guard names.contains(where: { isTemporaryName(entry, of: $0) }) else { return nil }
            if let pid = temporaryNamePID(entry), kill(pid, 0) == 0 || errno == EPERM { return nil }
            let path = directory + "/" + entry
            var st = stat()
            if let age, lstat(path, &st) != 0 || Double(time(nil) - st.st_mtim.tv_sec) < age { return nil }
            return (try? remove(path)) != nil ? path : nil
        }
    }

    /// A hidden temporary name for `name` in the same directory: ".NAME" + `suffix`, with NAME
    /// shortened so that the whole stays within `nameMax` bytes (a 245-byte name plus the suffix
    /// used to exceed it, and the write failed after the whole run).
    static func temporaryName(for name: String, suffix: String) -> String {
        var stem = Array(name.utf8)
        let room = max(1, nameMax - 1 - suffix.utf8.count)
        if stem.count > room {
            stem.removeLast(stem.count - room)
            // Not in the middle of a UTF-8 sequence.
            while let last = stem.last, last & 0xC0 == 0x80 || last >= 0xC0 { stem.removeLast() }
        }
        return "." + String(decoding: stem, as: UTF8.self) + suffix
    }

    /// Start-up check that a durable write to `path` will succeed, so that a run is refused before
    /// it trains rather than after: the target passes `writeTarget`, its directory (or the nearest
    /// existing one above it, which the write would create the rest of) is a directory that can be
    /// written (a probe file is created and removed there: it catches read-only file systems,
    /// permissions and names too long), and every name to be created fits `nameMax`.
    static func checkWritable(_ path: String) throws {
        let target = try writeTarget(path)
        let name = baseName(target)
        guard !name.isEmpty, name != ".", name != ".." else {
            throw CheckpointError(file: path, problem: .invalidArgument("names a directory, not a file"))
        }
        guard name.utf8.count <= nameMax else { throw error(path, "check the name", ENAMETOOLONG) }
        var directory = parent(of: target)
        var missing: [String] = []
        var st = stat()
        while stat(directory, &st) != 0 {
            guard errno == ENOENT || errno == ENOTDIR, parent(of: directory) != directory else { throw error(directory, "stat") }
            // Not a directory to create: mkdir would find the link ("a file with the same name
            // already exists", after the training).
            if let dangling = danglingLink(directory) { throw dangling }
            missing.append(baseName(directory))
            directory = parent(of: directory)
        }
        // "results.txt/report.json": name the file in the way, not an errno of the whole path.
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw CheckpointError(file: directory, problem: .invalidArgument(
                "\(kind(st.st_mode)), not a directory: \(path) cannot be created in it"))
        }
        if let long = missing.first(where: { $0.utf8.count > nameMax }) {
            throw error(long, "check the name", ENAMETOOLONG)
        }
        // The probe has the length of the temporary file the write will create. It is a hidden
        // name of its own, never the name of a directory the write would create: a probe named
        // `runs` made a second run starting at the same time in `runs/b` fail (mkdir found a file
        // there, or the probe's O_EXCL found the other's probe).
        let probeName = temporaryName(for: missing.last ?? name, suffix: temporarySuffix())
        let probe = directory == "/" ? "/" + probeName : directory + "/" + probeName
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        // The message names the file the run would write and its directory, not the probe, whose
        // name ("RUN/.config.json.tmp-PID-N: create failed") is nowhere else to be seen.
        guard fd >= 0 else { throw error(path, "creating a file in \(directory)") }
        close(fd)
        unlink(probe)
    }

    /// The refusal of `path` where it is a symbolic link to a path that does not exist (`stat` said
    /// ENOENT): no directory can be made there; nil when it is no link.
    static func danglingLink(_ path: String) -> CheckpointError? {
        guard errno == ENOENT, let target = FilePaths.linkTarget(path) else { return nil }
        let relative = target.hasPrefix("/") ? "" : " (relative to the link's folder)"
        return CheckpointError(file: path, problem: .invalidArgument("a symbolic link to \(target)\(relative), which leads nowhere"))
    }

    static func baseName(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard let slash = p.lastIndex(of: "/") else { return p }
        return String(p[p.index(after: slash)...])
    }
}
