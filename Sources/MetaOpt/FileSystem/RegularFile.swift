#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading a file whose name came from a user or from a directory listing, which may be anything:
/// a FIFO (whose plain `open` blocks until a writer appears, deaf to SIGINT), a device (/dev/zero
/// never ends), a directory, or a sparse file that states a terabyte.
///
/// Every reader of the package (optimizer files, checkpoints, IDX and CIFAR data, config.json)
/// comes through `read(_:limit:)`: it opens with O_NONBLOCK (a FIFO open returns at once), checks
/// with fstat that the descriptor is a regular file, and compares the stated size with `limit`
/// before it allocates anything. Nothing is allocated from a length inside the file before that
/// length has been checked against the file's size by the format's own reader.
package enum RegularFile {
    /// Why a file could not be read; `reason` is the text after the path in a message.
    package enum Failure: Error, Equatable, Sendable {
        case missing
        case isDirectory
        /// A FIFO, socket or device.
        case notRegular
        case tooLarge(size: Int, limit: Int)
        /// A system call failed: the call and errno.
        case system(operation: String, errno: Int32)

        package var reason: String {
            switch self {
            case .missing: return "cannot be read (no such file)"
            case .isDirectory: return "is a directory"
            case .notRegular: return "is not a regular file"
            case let .tooLarge(size, limit):
                return "is too large (\(size) bytes; at most \(limit) are read)"
            case let .system(operation, code):
                return "cannot be read (\(operation): \(String(cString: strerror(code))))"
            }
        }
    }

    /// Largest optimizer file read (JSON, about 12 bytes per parameter: room for some 20 million
    /// parameters; the files in optimizers/ are far below 1 MiB).
    package static let optimizerFileLimit = 256 << 20
    /// Largest checkpoint read (φ and two Adam moments in binary: 12 bytes per parameter).
    package static let checkpointLimit = 1 << 30
    /// Largest data file read (CIFAR-10's batches are 30 MiB each; MNIST's images 47 MiB).
    package static let dataFileLimit = 1 << 31
    /// Largest small text file read (config.json).
    package static let textFileLimit = 16 << 20
    /// Largest evaluation report read (JSON, about 12 bytes per loss: every optimizer's
    /// functions × (steps + 1) losses; 1,000 functions of 1,000 steps and five optimizers, 60 MB).
    package static let reportFileLimit = 1 << 30

    /// The whole content of the regular file at `path`, at most `limit` bytes.
    package static func read(_ path: String, limit: Int) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            switch code {
            case ENOENT, ENOTDIR: throw .missing
            case EISDIR: throw .isDirectory
            case ENXIO: throw .notRegular  // a socket, or a FIFO opened for writing without reader
            default: throw .system(operation: "open", errno: code)
            }
        }
        defer { _ = close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .system(operation: "fstat", errno: errno) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw .isDirectory
        default: throw .notRegular
        }
        let size = Int(info.st_size)
        guard size <= limit else { throw .tooLarge(size: size, limit: limit) }
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var done = 0
            while done < size {
                let n = systemRead(fd, buffer.baseAddress! + done, size - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if n == 0 { break }  // the file shrank while we read it
                done += n
            }
            initialized = done
        }
        if failure != 0 { throw .system(operation: "read", errno: failure) }
        return bytes
    }
}

/// `read(2)`; a free function so that the name is not shadowed by `RegularFile.read`.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}
