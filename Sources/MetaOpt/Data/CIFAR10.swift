/// CIFAR-10, binary version (https://www.cs.toronto.edu/~kriz/cifar.html): each record is one
/// label byte (0…9) followed by 3,072 pixel bytes, the 1,024 red values, then green, then blue,
/// each channel row-major 32×32 (so CHW, which is `ImageDataset`'s layout). The training split is
/// `data_batch_1.bin` … `data_batch_5.bin` (10,000 records each), the test split `test_batch.bin`,
/// all in one directory (`cifar-10-batches-bin` in the official archive). Files are read plain or
/// gzipped (detected by the gzip magic).
///
/// Loaded data sets are cached in memory once per process (keyed by the files' paths).
public enum CIFAR10 {
    public static let height = 32
    public static let width = 32
    public static let channels = 3
    public static let classCount = 10
    /// Bytes per record: 1 label + 3 × 32 × 32 pixels.
    public static let recordSize = 1 + 3 * 32 * 32

    /// The file names of a split.
    public static func fileNames(_ split: DatasetSplit) -> [String] {
        split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
    }

    /// Loads a split from `directory` (cached).
    public static func load(directory: String, split: DatasetSplit) throws(DataError) -> ImageDataset {
        let paths = fileNames(split).map { directory.hasSuffix("/") ? directory + $0 : directory + "/" + $0 }
        return try DatasetCache.shared.dataset(forKey: "cifar10|" + paths.joined(separator: "|")) { () throws(DataError) in
            try read(files: paths)
        }
    }

    /// Reads and concatenates the records of `files`, in order (no caching).
    public static func read(files: [String]) throws(DataError) -> ImageDataset {
        var pixels: [UInt8] = []
        var labels: [UInt8] = []
        for path in files {
            let bytes = try FileBytes.readMaybeGzipped(path)
            let records = bytes.count / recordSize
            if bytes.count == 0 { throw .truncated(path: path, expectedBytes: recordSize, actualBytes: 0) }
            if records * recordSize != bytes.count {
                throw .truncated(path: path, expectedBytes: (records + 1) * recordSize, actualBytes: bytes.count)
            }
            pixels.reserveCapacity(pixels.count + records * (recordSize - 1))
            labels.reserveCapacity(labels.count + records)
            try bytes.withUnsafeBufferPointer { (b) throws(DataError) in
                for r in 0..<records {
                    let start = r * recordSize
                    let label = b[start]
                    guard Int(label) < classCount else {
                        throw .invalidLabel(path: path, index: r, label: Int(label), classCount: classCount)
                    }
                    labels.append(label)
                    pixels.append(contentsOf: UnsafeBufferPointer(rebasing: b[(start + 1)..<(start + recordSize)]))
                }
            }
        }
        return ImageDataset(pixels: pixels, labels: labels, height: height, width: width, channels: channels,
                            classCount: classCount, source: files.first ?? "")
    }
}
