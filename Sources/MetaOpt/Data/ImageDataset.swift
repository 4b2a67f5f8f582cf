/// Which half of a data set.
public enum DatasetSplit: String, Sendable, Hashable, Codable, CaseIterable {
    case train
    case test
}

/// A labelled image data set held in memory.
///
/// `images` is row-major `count × featureCount` with `featureCount = channels · height · width`;
/// each row is one image in channel-major (CHW) order, i.e. element `(c, y, x)` of image `i` is
/// `images[i · featureCount + (c · height + y) · width + x]`. For one-channel images (MNIST) this is
/// just the row-major H×W image. Pixel values are scaled from 0…255 to [0, 1].
public struct ImageDataset: Sendable {
    public let images: [Float]
    public let labels: [UInt8]
    public let height: Int
    public let width: Int
    public let channels: Int
    /// Number of classes; every label is below it.
    public let classCount: Int
    /// Where the data came from (file or directory), for messages.
    public let source: String

    public var count: Int { labels.count }
    public var featureCount: Int { channels * height * width }

    /// Wraps already-scaled images. Preconditions: sizes agree and every label is below `classCount`.
    public init(images: [Float], labels: [UInt8], height: Int, width: Int, channels: Int,
                classCount: Int, source: String = "memory") {
        precondition(height > 0 && width > 0 && channels > 0 && classCount > 0 && classCount <= 256)
        precondition(images.count == labels.count * height * width * channels,
                     "ImageDataset: \(images.count) pixel values for \(labels.count) images of \(channels)×\(height)×\(width)")
        precondition(labels.allSatisfy { Int($0) < classCount }, "ImageDataset: a label is not below \(classCount)")
        self.images = images
        self.labels = labels
        self.height = height
        self.width = width
        self.channels = channels
        self.classCount = classCount
        self.source = source
    }

    /// Builds a data set from raw 8-bit pixels (scaled by 1/255), validated by the caller.
    init(pixels: [UInt8], labels: [UInt8], height: Int, width: Int, channels: Int, classCount: Int, source: String) {
        self.init(images: scaledPixels(pixels), labels: labels, height: height, width: width, channels: channels,
                  classCount: classCount, source: source)
    }

    /// Number of examples of each class.
    public func labelCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for l in labels { counts[Int(l)] += 1 }
        return counts
    }
}

/// 8-bit pixels to Float in [0, 1].
func scaledPixels(_ pixels: [UInt8]) -> [Float] {
    let n = pixels.count
    return [Float](unsafeUninitializedCapacity: n) { out, initialized in
        if n > 0 { pixels.withUnsafeBufferPointer { src in
            let s = src.baseAddress!, d = out.baseAddress!
            // A division (not a multiplication by 1/255) so that values are the correctly rounded
            // x/255, like the JAX peer's `astype(float32) / 255`.
            var i = 0
            while i < n { d[i] = Float(s[i]) / 255; i += 1 }
        } }
        initialized = n
    }
}
