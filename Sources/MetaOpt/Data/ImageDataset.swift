import Foundation
internal import CMetaOptKernels

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
///
/// Data sets read from 8-bit files (IDX, CIFAR-10) keep the bytes: a quarter of the memory of
/// Floats (47 MB instead of 188 MB for Fashion-MNIST's training set). The optimizees convert one
/// example at a time (`copyExample`), to the same Float values `images` holds.
public struct ImageDataset: Sendable {
    /// The images as Floats in [0, 1]. For 8-bit data this array is made on first use and then
    /// kept (shared by every copy of the data set); training and evaluation never ask for it.
    public var images: [Float] { pixels.floats }
    let pixels: PixelStore
    public let labels: [UInt8]
    public let height: Int
    public let width: Int
    public let channels: Int
    /// Number of classes; every label is below it.
    public let classCount: Int
    /// Where the data came from (file or directory), for messages.
    public let source: String

    public var count: Int { labels.count }

    /// A hash of the pixels (their bytes, or the Floats' bits) and the labels (`TaskFamily.dataFingerprint`).
    var fingerprint: UInt64 {
        let h = pixels.bytes.map { bytes in bytes.withUnsafeBytes { Self.hash($0, seed: 0) } }
            ?? pixels.floats.withUnsafeBytes { Self.hash($0, seed: 0) }
        return labels.withUnsafeBytes { Self.hash($0, seed: h) }
    }

    /// A 64-bit multiply-xor hash of `buffer`, 8 bytes at a time in four independent lanes: 3.4 ms
    /// for Fashion-MNIST's 47 MB (measured in an -Ounchecked build, Zen 4), where a byte-wise CRC added 0.2 s to every
    /// start. Not cryptographic: it tells copies of a data set apart, not an adversary's files.
    static func hash(_ buffer: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        let k: UInt64 = 0x9E37_79B9_7F4A_7C15
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (seed ^ 1, seed ^ 2, seed ^ 3, seed ^ 4)
        let words = buffer.count / 8
        var i = 0
        while i + 4 <= words {
            lanes.0 = (lanes.0 ^ buffer.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) &* k
            lanes.1 = (lanes.1 ^ buffer.loadUnaligned(fromByteOffset: 8 * i + 8, as: UInt64.self)) &* k
            lanes.2 = (lanes.2 ^ buffer.loadUnaligned(fromByteOffset: 8 * i + 16, as: UInt64.self)) &* k
            lanes.3 = (lanes.3 ^ buffer.loadUnaligned(fromByteOffset: 8 * i + 24, as: UInt64.self)) &* k
            lanes.0 ^= lanes.0 >> 29; lanes.1 ^= lanes.1 >> 29; lanes.2 ^= lanes.2 >> 29; lanes.3 ^= lanes.3 >> 29
            i += 4
        }
        var h = lanes.0 ^ (lanes.1 &* 3) ^ (lanes.2 &* 5) ^ (lanes.3 &* 7) ^ UInt64(buffer.count)
        for j in (8 * i)..<buffer.count { h = (h ^ UInt64(buffer[j])) &* k; h ^= h >> 29 }
        return h
    }
    public var featureCount: Int { channels * height * width }

    /// Wraps already-scaled images. Preconditions: sizes agree and every label is below `classCount`.
    public init(images: [Float], labels: [UInt8], height: Int, width: Int, channels: Int,
                classCount: Int, source: String = "memory") {
        self.init(store: PixelStore(floats: images), values: images.count, labels: labels, height: height,
                  width: width, channels: channels, classCount: classCount, source: source)
    }

    /// Builds a data set from raw 8-bit pixels (scaled by 1/255), validated by the caller.
    init(pixels: [UInt8], labels: [UInt8], height: Int, width: Int, channels: Int, classCount: Int, source: String) {
        self.init(store: PixelStore(bytes: pixels), values: pixels.count, labels: labels, height: height,
                  width: width, channels: channels, classCount: classCount, source: source)
    }

    /// `values`: the pixel values `store` holds.
    private init(store: PixelStore, values: Int, labels: [UInt8], height: Int, width: Int, channels: Int,
                 classCount: Int, source: String) {
        precondition(height > 0 && width > 0 && channels > 0 && classCount > 0 && classCount <= 256)
        precondition(values == labels.count * height * width * channels,
                     "ImageDataset: \(values) pixel values for \(labels.count) images of \(channels)×\(height)×\(width)")
        precondition(labels.allSatisfy { Int($0) < classCount }, "ImageDataset: a label is not below \(classCount)")
        pixels = store
        self.labels = labels
        self.height = height
        self.width = width
        self.channels = channels
        self.classCount = classCount
        self.source = source
    }

    /// Starts fetching example `i`'s pixels and label into the cache (for a `copyExample` soon after).
    func prefetchExample(_ i: Int) {
        let n = featureCount
        // The label too: a minibatch's labels are as scattered as its pixels, and reading each
        // only when its example is copied made the loader wait for them one by one.
        labels.withUnsafeBufferPointer { metaopt_prefetch_bytes($0.baseAddress! + i, 1) }
        if let bytes = pixels.bytes {
            bytes.withUnsafeBufferPointer { metaopt_prefetch_bytes($0.baseAddress! + i * n, n) }
        } else {
            pixels.floats.withUnsafeBufferPointer { metaopt_prefetch_bytes($0.baseAddress! + i * n, n * 4) }
        }
    }

    /// Writes example `i`'s `featureCount` values into `destination`, as Floats in [0, 1] (8-bit
    /// pixels: x/255, the values of `images`).
    func copyExample(_ i: Int, into destination: UnsafeMutablePointer<Float>) {
        let n = featureCount
        if let bytes = pixels.bytes {
            bytes.withUnsafeBufferPointer { scalePixels($0.baseAddress! + i * n, count: n, into: destination) }
        } else {
            pixels.floats.withUnsafeBufferPointer { destination.update(from: $0.baseAddress! + i * n, count: n) }
        }
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
        if n > 0 { pixels.withUnsafeBufferPointer { scalePixels($0.baseAddress!, count: n, into: out.baseAddress!) } }
        initialized = n
    }
}

/// d[i] = s[i] / 255: a division (not a multiplication by 1/255) so that values are the correctly
/// rounded x/255, like the JAX peer's `astype(float32) / 255`.
@inline(__always)
func scalePixels(_ s: UnsafePointer<UInt8>, count n: Int, into d: UnsafeMutablePointer<Float>) {
    var i = 0
    while i < n { d[i] = Float(s[i]) / 255; i += 1 }
}

/// An `ImageDataset`'s pixels: 8-bit bytes (Floats made on demand, once) or Floats. A class, so
/// that copies of a data set (and the dataset cache) share one store.
final class PixelStore: @unchecked Sendable {
    let bytes: [UInt8]?
    private let lock = NSLock()
    private var madeFloats: [Float]?

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    init(floats: [Float]) {
        bytes = nil
        madeFloats = floats
    }

    /// Every pixel as a Float in [0, 1].
    var floats: [Float] {
        lock.lock()
        defer { lock.unlock() }
        if let madeFloats { return madeFloats }
        let f = scaledPixels(bytes!)
        madeFloats = f
        return f
    }
}
