/// Reader for the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
/// a big-endian header `00 00 <type> <rank>`, then `rank` big-endian UInt32 dimensions, then the
/// data. Only unsigned bytes (type 0x08) are read: images have magic 0x00000803 (count × rows ×
/// columns), labels 0x00000801 (count). Files may be gzipped or plain: a file that starts with the
/// gzip magic 1f 8b is decompressed first, whatever its name.
package enum IDX {
    package static let imagesMagic: UInt32 = 0x0000_0803
    package static let labelsMagic: UInt32 = 0x0000_0801

    /// 8-bit images of one file.
    package struct Images: Sendable, Equatable {
        package var count: Int
        package var rows: Int
        package var columns: Int
        /// `count × rows × columns` bytes, row-major.
        package var pixels: [UInt8]
    }

    /// Reads an images file (magic 0x00000803).
    package static func readImages(path: String) throws(DataError) -> Images {
        let bytes = try FileBytes.readMaybeGzipped(path)
        let (dims, offset) = try header(bytes, path: path, magic: imagesMagic)
        return Images(count: dims[0], rows: dims[1], columns: dims[2], pixels: Array(bytes[offset...]))
    }

    /// Reads a labels file (magic 0x00000801).
    package static func readLabels(path: String) throws(DataError) -> [UInt8] {
        let bytes = try FileBytes.readMaybeGzipped(path)
        let (_, offset) = try header(bytes, path: path, magic: labelsMagic)
        return Array(bytes[offset...])
    }

    /// Reads an images file and its labels file into a data set (no caching; see `FashionMNIST`).
    package static func loadDataset(imagesPath: String, labelsPath: String, classCount: Int = 10) throws(DataError) -> ImageDataset {
        let images = try readImages(path: imagesPath)
        let labels = try readLabels(path: labelsPath)
        guard images.count == labels.count else {
            throw .countMismatch(imagesPath: imagesPath, images: images.count, labelsPath: labelsPath, labels: labels.count)
        }
        if let bad = labels.firstIndex(where: { Int($0) >= classCount }) {
            throw .invalidLabel(path: labelsPath, index: bad, label: Int(labels[bad]), classCount: classCount)
        }
        return ImageDataset(pixels: images.pixels, labels: labels, height: images.rows, width: images.columns,
                            channels: 1, classCount: classCount, source: imagesPath)
    }

    /// Checks magic and size; returns the dimensions and the offset of the data.
    static func header(_ bytes: [UInt8], path: String, magic: UInt32) throws(DataError) -> (dims: [Int], offset: Int) {
        guard bytes.count >= 4 else { throw .truncated(path: path, expectedBytes: 4, actualBytes: bytes.count) }
        let found = bigEndianUInt32(bytes, at: 0)
        guard found == magic else { throw .wrongMagic(path: path, expected: magic, found: found) }
        let rank = Int(magic & 0xff)
        let offset = 4 + 4 * rank
        guard bytes.count >= offset else { throw .truncated(path: path, expectedBytes: offset, actualBytes: bytes.count) }
        var dims: [Int] = []
        var total = 1
        for d in 0..<rank {
            let n = Int(bigEndianUInt32(bytes, at: 4 + 4 * d))
            if d > 0 && n == 0 { throw .malformed(path: path, reason: "dimension \(d) is zero") }
            dims.append(n)
            let (product, overflow) = total.multipliedReportingOverflow(by: n)
            guard !overflow && product <= 1 << 40 else { throw .malformed(path: path, reason: "dimensions \(dims) too large") }
            total = product
        }
        let expected = offset + total
        if bytes.count < expected { throw .truncated(path: path, expectedBytes: expected, actualBytes: bytes.count) }
        if bytes.count > expected { throw .trailingData(path: path, expectedBytes: expected, actualBytes: bytes.count) }
        return (dims, offset)
    }
}

@inline(__always)
func bigEndianUInt32(_ bytes: [UInt8], at i: Int) -> UInt32 {
    UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3])
}
