/// A failure to read a data set. Every case names the file it is about, so a message on one rank of a
/// distributed job says which file on which machine is missing or damaged.
public enum DataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file does not exist.
    case missingFile(path: String)
    /// The file exists but could not be read (permissions, an I/O error): it may read the next time.
    case unreadable(path: String, reason: String)
    /// A directory, FIFO, socket or device, or a file too large to be a data set, in the file's place.
    case notAFile(path: String, reason: String)
    /// The data directory (`--data-dir`) is something else, a regular file say.
    case notADirectory(path: String)
    /// The data directory does not exist (a typo, or a mount that is not there yet: it may be
    /// there the next time).
    case missingDirectory(path: String)
    /// The file's first four bytes are not the expected magic number.
    case wrongMagic(path: String, expected: UInt32, found: UInt32)
    /// The file ends before the data its header (or its record size) promises.
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    /// The file is longer than its header promises.
    case trailingData(path: String, expectedBytes: Int, actualBytes: Int)
    /// An images file and its labels file disagree on the number of examples.
    case countMismatch(imagesPath: String, images: Int, labelsPath: String, labels: Int)
    /// The file starts with the gzip magic but does not decompress.
    case badGzip(path: String, reason: String)
    /// A label outside 0..<classCount.
    case invalidLabel(path: String, index: Int, label: Int, classCount: Int)
    /// A header field that makes no sense (zero or absurd dimensions, wrong rank, ...).
    case malformed(path: String, reason: String)
    /// A configuration error that is not about one file (e.g. an invalid label subset).
    case invalidConfiguration(String)

    /// Whether the settings do not fit the data (more poolings than its images allow, a label it
    /// lacks): a usage error, which a restart would meet again, not a damaged or missing file.
    public var isConfigurationProblem: Bool {
        if case .invalidConfiguration = self { return true }
        return false
    }

    /// Whether what is there does not hold a data set (a directory or device in its place, a data
    /// directory that is none, a wrong magic number, a truncated or undecodable file): a restart
    /// would meet it again (status 65), unlike a missing or unreadable file, which may read the
    /// next time.
    public var isDamagedFile: Bool {
        switch self {
        case .notAFile, .notADirectory, .wrongMagic, .truncated, .trailingData, .countMismatch, .badGzip, .invalidLabel, .malformed: return true
        case .missingFile, .missingDirectory, .unreadable, .invalidConfiguration: return false
        }
    }

    /// Whether the data set's directory or one of its files is not there.
    public var isMissing: Bool {
        switch self {
        case .missingFile, .missingDirectory: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case let .missingFile(path):
            return "\(path): no such file"
        case let .unreadable(path, reason):
            return "\(path): cannot read: \(reason)"
        case let .notAFile(path, reason):
            return "\(path): \(reason), not a data set file"
        case let .notADirectory(path):
            return "\(path): not a directory (the data directory holds the data set's files)"
        case let .missingDirectory(path):
            return "\(path): no such directory (the data directory holds the data set's files)"
        case let .wrongMagic(path, expected, found):
            return "\(path): wrong magic number 0x\(hex8(found)), expected 0x\(hex8(expected))"
        case let .truncated(path, expected, actual):
            return "\(path): truncated: \(actual) bytes, expected \(expected)"
        case let .trailingData(path, expected, actual):
            return "\(path): \(actual - expected) unexpected bytes after the \(expected) bytes the header describes"
        case let .countMismatch(imagesPath, images, labelsPath, labels):
            return "\(imagesPath) holds \(images) images but \(labelsPath) holds \(labels) labels"
        case let .badGzip(path, reason):
            return "\(path): bad gzip data: \(reason)"
        case let .invalidLabel(path, index, label, classCount):
            return "\(path): label \(label) of example \(index) is outside 0..<\(classCount)"
        case let .malformed(path, reason):
            return "\(path): malformed: \(reason)"
        case let .invalidConfiguration(message):
            return message
        }
    }
}

private func hex8(_ value: UInt32) -> String {
    let s = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 8 - s.count)) + s
}
