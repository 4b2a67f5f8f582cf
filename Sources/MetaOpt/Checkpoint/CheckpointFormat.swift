/// The fixed 64-byte header at the start of every checkpoint file. All integers little-endian.
///
/// | offset | size | field                                              |
/// |-------:|-----:|----------------------------------------------------|
/// |      0 |    8 | magic "MOPTCKPT" (ASCII)                           |
/// |      8 |    4 | format version, UInt32 (1)                         |
/// |     12 |    4 | flags, UInt32 (0; no flags are defined in v1)      |
/// |     16 |    8 | payload length in bytes, UInt64                    |
/// |     24 |    8 | meta-step, Int64 (equals the metadata's `metaStep`) |
/// |     32 |    4 | CRC-32C of the payload, UInt32                     |
/// |     36 |   24 | reserved, zero                                     |
/// |     60 |    4 | CRC-32C of bytes 0..<60, UInt32                    |
///
/// The size, the magic, the version's offset and the header checksum's place (the last 4 bytes,
/// covering the 60 before) are the same in every format version, so a reader can tell "intact
/// header of another version" from "corrupt header".
package struct CheckpointHeader: Sendable, Equatable {
    package static let size = 64
    package static let magic: [UInt8] = Array("MOPTCKPT".utf8)
    package static let currentVersion: UInt32 = 1

    package var version: UInt32
    package var flags: UInt32
    package var payloadLength: UInt64
    package var step: Int64
    package var payloadChecksum: UInt32

    package init(version: UInt32 = CheckpointHeader.currentVersion, flags: UInt32 = 0,
                payloadLength: UInt64, step: Int64, payloadChecksum: UInt32) {
        self.version = version
        self.flags = flags
        self.payloadLength = payloadLength
        self.step = step
        self.payloadChecksum = payloadChecksum
    }

    /// The 64 header bytes, including the header checksum.
    package func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        w.append(Self.magic)
        w.u32(version)
        w.u32(flags)
        w.u64(payloadLength)
        w.u64(UInt64(bitPattern: step))
        w.u32(payloadChecksum)
        w.append([UInt8](repeating: 0, count: 24))
        w.u32(CRC32C.checksum(w.bytes))
        assert(w.bytes.count == Self.size)
        return w.bytes
    }

    /// Parses and verifies the header at the start of `bytes` (the whole file or at least its first
    /// 64 bytes). Checks, in this order: length and magic, the header checksum, the version, the
    /// flags. The payload is not looked at.
    package static func parse(_ bytes: UnsafeRawBufferPointer, source: String) throws -> CheckpointHeader {
        func fail(_ p: CheckpointError.Problem) -> CheckpointError { CheckpointError(file: source, problem: p) }
        let prefix = min(bytes.count, magic.count)
        guard bytes.prefix(prefix).elementsEqual(magic.prefix(prefix)) else { throw fail(.notACheckpoint) }
        guard bytes.count >= size else {
            throw fail(.truncated(expected: size, actual: bytes.count, inHeader: true))
        }
        var r = ByteReader(bytes, source: source, start: magic.count, end: size)
        let version = try r.u32()
        let flags = try r.u32()
        let payloadLength = try r.u64()
        let step = Int64(bitPattern: try r.u64())
        let payloadChecksum = try r.u32()
        let stored = bytes.loadUnaligned(fromByteOffset: size - 4, as: UInt32.self).littleEndian
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<(size - 4)]))
        guard stored == computed else { throw fail(.headerChecksumMismatch(stored: stored, computed: computed)) }
        guard version == currentVersion else { throw fail(.unsupportedVersion(version)) }
        guard flags == 0 else { throw fail(.invalidHeader("unknown flags 0x\(String(flags, radix: 16))")) }
        guard payloadLength <= UInt64(Int.max - size) else {
            throw fail(.invalidHeader("payload length \(payloadLength) is impossibly large"))
        }
        return CheckpointHeader(version: version, flags: flags, payloadLength: payloadLength,
                                step: step, payloadChecksum: payloadChecksum)
    }

    package static func parse(_ bytes: [UInt8], source: String) throws -> CheckpointHeader {
        try bytes.withUnsafeBytes { try parse($0, source: source) }
    }
}

/// A verified checkpoint file whose metadata JSON has not been decoded: what the format itself
/// guarantees, independent of any configuration type. `Checkpoint<Configuration>` builds on it;
/// tools that only inspect files can use it directly.
///
/// Payload layout (offsets relative to the payload start, which is file offset 64; every record
/// starts 8-byte aligned, so array data is 8-byte aligned in the file):
///
/// ```
/// UInt32 record count, UInt32 reserved (0)
/// record*:
///   UInt32 kind            1 = metadata JSON (UTF-8), 2 = Float32, 3 = Float64, 4 = Int64
///   UInt32 name length     bytes of UTF-8, 1...4096
///   UInt32 rank            number of dimensions (a JSON record: 1)
///   UInt32 reserved        0
///   UInt64 element count   product of the dimensions
///   UInt64 × rank          dimensions
///   name bytes, zero padding to a multiple of 8
///   element count × element size bytes (raw little-endian), zero padding to a multiple of 8
/// ```
/// The first record is the metadata JSON, named "metadata"; there is exactly one. Tensor records
/// follow in ascending order of name (byte order of the UTF-8), names unique.
package struct RawCheckpoint: Sendable, Equatable {
    package static let metadataRecordName = "metadata"
    static let jsonKind: UInt32 = 1
    static let maxNameLength = 4096
    static let maxRank = 32

    package var step: Int
    /// UTF-8 JSON text.
    package var metadataJSON: [UInt8]
    package var tensors: [String: TensorData]

    package init(step: Int, metadataJSON: [UInt8], tensors: [String: TensorData]) {
        self.step = step
        self.metadataJSON = metadataJSON
        self.tensors = tensors
    }

    /// The complete file: header followed by the payload. Deterministic: equal values give equal bytes.
    package func encode() throws -> [UInt8] {
        func invalid(_ m: String) -> CheckpointError {
            CheckpointError(file: "checkpoint", problem: .invalidArgument(m))
        }
        let names = tensors.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var size = CheckpointHeader.size + 8
        size += Self.recordSize(nameLength: Self.metadataRecordName.utf8.count, rank: 1, dataBytes: metadataJSON.count)
        for name in names {
            let t = tensors[name]!
            let nameLength = name.utf8.count
            guard (1...Self.maxNameLength).contains(nameLength) else {
                throw invalid("tensor name \"\(name)\" must have 1...\(Self.maxNameLength) bytes of UTF-8")
            }
            guard t.shape.count <= Self.maxRank, t.shape.allSatisfy({ $0 >= 0 }),
                  t.shape.reduce(1, *) == t.count else {
                throw invalid("tensor \"\(name)\": shape \(t.shape) does not match its \(t.count) elements")
            }
            size += Self.recordSize(nameLength: nameLength, rank: t.shape.count,
                                    dataBytes: t.count * t.elementType.elementSize)
        }

        var w = ByteWriter(capacity: size)
        w.append([UInt8](repeating: 0, count: CheckpointHeader.size))  // filled in below
        w.u32(UInt32(names.count + 1))
        w.u32(0)
        w.record(kind: Self.jsonKind, name: Self.metadataRecordName, shape: [metadataJSON.count]) {
            $0.append(metadataJSON)
        }
        for name in names {
            let t = tensors[name]!
            w.record(kind: t.elementType.rawValue, name: name, shape: t.shape) { w in
                switch t.values {
                case .float32(let v): w.appendArray(v) { $0.bitPattern }
                case .float64(let v): w.appendArray(v) { $0.bitPattern }
                case .int64(let v): w.appendArray(v) { UInt64(bitPattern: $0) }
                }
            }
        }
        assert(w.bytes.count == size)
        let payloadLength = w.bytes.count - CheckpointHeader.size
        let crc = w.bytes.withUnsafeBytes {
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[CheckpointHeader.size...]))
        }
        let header = CheckpointHeader(payloadLength: UInt64(payloadLength), step: Int64(step),
                                      payloadChecksum: crc).encoded()
        w.bytes.replaceSubrange(0..<CheckpointHeader.size, with: header)
        return w.bytes
    }

    /// Verifies and parses a complete file. Checks, in this order: the header (see
    /// `CheckpointHeader.parse`), the file length against the header's payload length, the
    /// payload checksum, then the payload structure. `source` names the file in errors.
    package static func decode(_ bytes: [UInt8], source: String) throws -> RawCheckpoint {
        try bytes.withUnsafeBytes { try decode($0, source: source) }
    }

    package static func decode(_ bytes: UnsafeRawBufferPointer, source: String) throws -> RawCheckpoint {
        func fail(_ p: CheckpointError.Problem) -> CheckpointError { CheckpointError(file: source, problem: p) }
        let header = try CheckpointHeader.parse(bytes, source: source)
        let expected = CheckpointHeader.size + Int(header.payloadLength)
        guard bytes.count >= expected else {
            throw fail(.truncated(expected: expected, actual: bytes.count, inHeader: false))
        }
        guard bytes.count == expected else { throw fail(.trailingBytes(expected: expected, actual: bytes.count)) }
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[CheckpointHeader.size...]))
        guard computed == header.payloadChecksum else {
            throw fail(.payloadChecksumMismatch(stored: header.payloadChecksum, computed: computed))
        }

        var r = ByteReader(bytes, source: source, start: CheckpointHeader.size, end: expected)
        let recordCount = Int(try r.u32())
        _ = try r.u32()
        guard recordCount >= 1 else { throw fail(.malformedPayload("no metadata record")) }
        var metadata: [UInt8]?
        var tensors: [String: TensorData] = [:]
        for index in 0..<recordCount {
            let kind = try r.u32()
            let nameLength = Int(try r.u32())
            let rank = Int(try r.u32())
            _ = try r.u32()
            let count = try r.u64()
            guard (1...maxNameLength).contains(nameLength) else {
                throw fail(.malformedPayload("record \(index): name length \(nameLength)"))
            }
            guard rank <= maxRank else { throw fail(.malformedPayload("record \(index): rank \(rank)")) }
            var shape: [Int] = []
            var product: UInt64 = 1
            for _ in 0..<rank {
                let d = try r.u64()
                let (p, overflow) = product.multipliedReportingOverflow(by: d)
                guard d <= UInt64(Int.max), !overflow else {
                    throw fail(.malformedPayload("record \(index): dimension \(d) too large"))
                }
                shape.append(Int(d))
                product = p
            }
            let nameBytes = try r.bytes(nameLength)
            try r.pad8()
            guard let name = String(validating: nameBytes, as: UTF8.self) else {
                throw fail(.malformedPayload("record \(index): name is not UTF-8"))
            }
            guard product == count else {
                throw fail(.malformedPayload("record \"\(name)\": shape \(shape) does not match count \(count)"))
            }
            let elementSize: Int
            if kind == jsonKind {
                elementSize = 1
            } else if let type = TensorElementType(rawValue: kind) {
                elementSize = type.elementSize
            } else {
                throw fail(.malformedPayload("record \"\(name)\": unknown kind \(kind)"))
            }
            guard count <= UInt64(r.remaining / elementSize) else {
                throw fail(.malformedPayload("record \"\(name)\": \(count) elements exceed the payload"))
            }
            let data = try r.raw(Int(count) * elementSize)
            try r.pad8()
            if index == 0 {
                guard kind == jsonKind, name == metadataRecordName, rank == 1 else {
                    throw fail(.malformedPayload("the first record must be the metadata JSON"))
                }
                metadata = Array(data)
                continue
            }
            guard kind != jsonKind else { throw fail(.malformedPayload("a second metadata record \"\(name)\"")) }
            guard tensors[name] == nil else { throw fail(.malformedPayload("duplicate tensor \"\(name)\"")) }
            let values: TensorData.Values
            switch TensorElementType(rawValue: kind)! {
            case .float32: values = .float32(decodeArray(data, Float.self) { Float(bitPattern: UInt32(littleEndian: $0)) })
            case .float64: values = .float64(decodeArray(data, Double.self) { Double(bitPattern: UInt64(littleEndian: $0)) })
            case .int64: values = .int64(decodeArray(data, Int64.self) { Int64(bitPattern: UInt64(littleEndian: $0)) })
            }
            tensors[name] = TensorData(values, shape: shape)
        }
        guard r.remaining == 0 else {
            throw fail(.malformedPayload("\(r.remaining) bytes after the last record"))
        }
        return RawCheckpoint(step: Int(header.step), metadataJSON: metadata!, tensors: tensors)
    }

    private static func recordSize(nameLength: Int, rank: Int, dataBytes: Int) -> Int {
        24 + 8 * rank + roundUp8(nameLength) + roundUp8(dataBytes)
    }
}

@inline(__always) func roundUp8(_ n: Int) -> Int { (n + 7) & ~7 }

/// Decodes raw little-endian elements; `fromBits` converts one little-endian bit pattern
/// (used on big-endian hosts only; on little-endian hosts the bytes are copied as they are).
private func decodeArray<T: BitwiseCopyable, Bits: FixedWidthInteger>(
    _ raw: UnsafeRawBufferPointer, _: T.Type, _ fromBits: (Bits) -> T
) -> [T] {
    precondition(MemoryLayout<T>.size == MemoryLayout<Bits>.size)
    let n = raw.count / MemoryLayout<T>.size
    #if _endian(little)
    return [T](unsafeUninitializedCapacity: n) { buffer, initialized in
        if n > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw) }
        initialized = n
    }
    #else
    return (0..<n).map { fromBits(raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<Bits>.size, as: Bits.self)) }
    #endif
}

/// Appends little-endian values to a byte array.
struct ByteWriter {
    var bytes: [UInt8]

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func append(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func pad8() { bytes.append(contentsOf: repeatElement(0, count: roundUp8(bytes.count) - bytes.count)) }

    mutating func appendArray<T: BitwiseCopyable, Bits: FixedWidthInteger>(_ values: [T], _ toBits: (T) -> Bits) {
        precondition(MemoryLayout<T>.size == MemoryLayout<Bits>.size)
        #if _endian(little)
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
        for v in values { withUnsafeBytes(of: toBits(v).littleEndian) { bytes.append(contentsOf: $0) } }
        #endif
    }

    mutating func record(kind: UInt32, name: String, shape: [Int], data: (inout ByteWriter) -> Void) {
        u32(kind)
        u32(UInt32(name.utf8.count))
        u32(UInt32(shape.count))
        u32(0)
        u64(UInt64(shape.reduce(1, *)))
        for d in shape { u64(UInt64(d)) }
        bytes.append(contentsOf: name.utf8)
        pad8()
        data(&self)
        pad8()
    }
}

/// Reads little-endian values from `[start, end)` of a buffer; running past `end` is a
/// malformed payload (the length and checksums were verified before, so only a writer bug gets here).
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    let source: String
    var offset: Int
    let end: Int

    init(_ buffer: UnsafeRawBufferPointer, source: String, start: Int, end: Int) {
        self.buffer = buffer
        self.source = source
        self.offset = start
        self.end = end
    }

    var remaining: Int { end - offset }

    mutating func raw(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else {
            throw CheckpointError(file: source, problem: .malformedPayload(
                "record runs past the end of the payload (offset \(offset), \(n) bytes wanted)"))
        }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + n)])
    }

    mutating func bytes(_ n: Int) throws -> [UInt8] { Array(try raw(n)) }
    mutating func u32() throws -> UInt32 { UInt32(littleEndian: try raw(4).loadUnaligned(as: UInt32.self)) }
    mutating func u64() throws -> UInt64 { UInt64(littleEndian: try raw(8).loadUnaligned(as: UInt64.self)) }
    mutating func pad8() throws {
        let relative = offset - CheckpointHeader.size
        _ = try raw(roundUp8(relative) - relative)
    }
}
