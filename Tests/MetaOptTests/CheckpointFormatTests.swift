import Foundation
import XCTest
@testable import MetaOpt

/// A stand-in for the trainer's configuration.
struct CheckpointTestConfiguration: Codable, Equatable, Sendable {
    var task = "quadratic"
    var learningRate = 1e-3
    var unroll = 20
    var runSeed = UInt64.max
}

/// Float32 bit patterns that must survive a round trip: signed zeros, infinities, subnormals,
/// quiet and signalling NaNs with payloads and both signs.
let float32Bits: [UInt32] = [0x0000_0000, 0x8000_0000, 0x3F80_0000, 0xBFC0_0000, 0x7F80_0000, 0xFF80_0000,
                             0x0000_0001, 0x807F_FFFF, 0x7F7F_FFFF, 0x7FC0_1234, 0x7F80_0001, 0xFFC0_0000,
                             0xFFFF_FFFF]
let float64Bits: [UInt64] = [0, 0x8000_0000_0000_0000, 0x3FF0_0000_0000_0000, 0x7FF0_0000_0000_0000,
                             0xFFF0_0000_0000_0000, 0x0000_0000_0000_0001, 0x7FF8_0000_DEAD_BEEF,
                             0x7FF0_0000_0000_0001, 0xFFF8_0000_0000_0000]

func sampleCheckpoint(step: Int = 7) -> Checkpoint<CheckpointTestConfiguration> {
    let metadata = CheckpointMetadata(
        metaStep: step, seed: 0xFEDC_BA98_7654_3210, globalMetaBatchSize: 128,
        configuration: CheckpointTestConfiguration(),
        skipCounters: ["nonFiniteMetaGradient": 2], counters: ["horizon": 3, "truncation": 4],
        notes: ["command": "metaopt-dist train"])
    let phi = (0..<24).map { Float($0) * 0.25 - 3 }
    return Checkpoint(metadata: metadata, tensors: [
        "phi": .float32(phi, shape: [2, 3, 4]),
        "adam.m": .float32(float32Bits.map(Float.init(bitPattern:))),
        "adam.v": .float64(float64Bits.map(Double.init(bitPattern:))),
        "adam.t": .int64([Int64(step)], shape: []),
        "counters": .int64([.min, -1, 0, 1, .max]),
        "empty": .float32([]),
        "zustand.θ": .float64([-0.0, .leastNormalMagnitude / 4], shape: [1, 2]),
    ])
}

/// Sets the UInt32 at `offset` of the header and recomputes the header checksum.
func patchHeader(_ bytes: [UInt8], offset: Int, uint32 value: UInt32) -> [UInt8] {
    var b = bytes
    withUnsafeBytes(of: value.littleEndian) { b.replaceSubrange(offset..<(offset + 4), with: $0) }
    let crc = CRC32C.checksum(Array(b[0..<60]))
    withUnsafeBytes(of: crc.littleEndian) { b.replaceSubrange(60..<64, with: $0) }
    return b
}

func decodeError(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> CheckpointError? {
    do {
        _ = try Checkpoint<CheckpointTestConfiguration>.decode(bytes, source: "test.mopt")
        XCTFail("decoding succeeded", file: file, line: line)
        return nil
    } catch let e as CheckpointError {
        XCTAssertEqual(e.file, "test.mopt", file: file, line: line)
        return e
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
        return nil
    }
}

final class CheckpointFormatTests: XCTestCase {
    func testCRC32CKnownAnswers() {
        // RFC 3720 (iSCSI) appendix B.4 and the common check value.
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }), 0x113F_DB5C)
        // Chaining at every split point equals the whole.
        let data = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let whole = CRC32C.checksum(data)
        for split in 0...data.count {
            let a = data[..<split].withUnsafeBytes { CRC32C.checksum($0) }
            XCTAssertEqual(data[split...].withUnsafeBytes { CRC32C.update(a, $0) }, whole)
        }
    }

    func testRoundTripIsBitExact() throws {
        let original = sampleCheckpoint()
        let bytes = try original.encode()
        let decoded = try Checkpoint<CheckpointTestConfiguration>.decode(bytes, source: "test.mopt")
        XCTAssertEqual(decoded, original)
        XCTAssertEqual(decoded.metadata.seed, 0xFEDC_BA98_7654_3210)
        XCTAssertEqual(decoded.metadata.configuration.runSeed, UInt64.max)
        XCTAssertEqual(decoded.metadata.skipCounters, ["nonFiniteMetaGradient": 2])
        XCTAssertEqual(decoded.metadata.counters, ["horizon": 3, "truncation": 4])
        XCTAssertEqual(try decoded.float32("adam.m").map(\.bitPattern), float32Bits)
        XCTAssertEqual(try decoded.float64("adam.v").map(\.bitPattern), float64Bits)
        XCTAssertEqual(try decoded.float64("zustand.θ").map(\.bitPattern), [0x8000_0000_0000_0000, 0x0004_0000_0000_0000])
        XCTAssertEqual(try decoded.int64("counters"), [.min, -1, 0, 1, .max])
        XCTAssertEqual(try decoded.tensor("phi").shape, [2, 3, 4])
        XCTAssertEqual(try decoded.tensor("adam.t").shape, [])
        XCTAssertEqual(try decoded.tensor("empty").count, 0)
        // Bit-exact equality distinguishes 0.0 from -0.0 and compares NaNs by bits.
        XCTAssertNotEqual(TensorData.float32([0.0]), TensorData.float32([-0.0]))
        XCTAssertEqual(TensorData.float32([.nan]), TensorData.float32([.nan]))
        XCTAssertNotEqual(TensorData.float32([Float(bitPattern: 0x7FC0_0001)]), TensorData.float32([.nan]))
        // Re-encoding the decoded value gives the same bytes.
        XCTAssertEqual(try decoded.encode(), bytes)
    }

    func testEncodingIsDeterministicAndLittleEndian() throws {
        let metadata = CheckpointMetadata(metaStep: 0x0102_0304_0506, seed: 1, globalMetaBatchSize: 1,
                                          configuration: CheckpointTestConfiguration())
        let c = Checkpoint(metadata: metadata, tensors: ["x": .float32([Float(bitPattern: 0x1122_3344)]),
                                                         "y": .int64([0x0102_0304_0506_0708])])
        let bytes = try c.encode()
        XCTAssertEqual(try c.encode(), bytes)
        XCTAssertEqual(Array(bytes[0..<8]), Array("MOPTCKPT".utf8))
        XCTAssertEqual(Array(bytes[8..<16]), [1, 0, 0, 0, 0, 0, 0, 0])  // version 1, flags 0
        let payloadLength = bytes.count - 64
        XCTAssertEqual(Array(bytes[16..<24]), (0..<8).map { UInt8(truncatingIfNeeded: payloadLength >> (8 * $0)) })
        XCTAssertEqual(Array(bytes[24..<32]), [6, 5, 4, 3, 2, 1, 0, 0])
        XCTAssertEqual(Array(bytes[36..<60]), [UInt8](repeating: 0, count: 24))
        let header = try CheckpointHeader.parse(bytes, source: "test")
        XCTAssertEqual(header.payloadChecksum, CRC32C.checksum(Array(bytes[64...])))
        XCTAssertEqual(header.step, 0x0102_0304_0506)
        // The data of "x" and "y": raw little-endian, 8-byte aligned in the file.
        XCTAssertEqual(Array(bytes.suffix(8)), [8, 7, 6, 5, 4, 3, 2, 1])
        let x: [UInt8] = [0x44, 0x33, 0x22, 0x11, 0, 0, 0, 0]
        let xOffset = (0...(bytes.count - 8)).first { Array(bytes[$0..<($0 + 8)]) == x }
        XCTAssertNotNil(xOffset)
        XCTAssertEqual((xOffset ?? 1) % 8, 0)
        XCTAssertEqual(bytes.count % 8, 0)
        // The metadata is readable JSON in the file.
        let raw = try RawCheckpoint.decode(bytes, source: "test")
        let json = String(decoding: raw.metadataJSON, as: UTF8.self)
        XCTAssertTrue(json.contains("\"globalMetaBatchSize\" : 1"), json)
        XCTAssertTrue(json.contains("\"runSeed\" : 18446744073709551615"), json)
    }

    func testTruncatedAtSeveralCutPoints() throws {
        let bytes = try sampleCheckpoint().encode()
        let cuts = [0, 3, 8, 30, 63, 64, 65, 72, bytes.count / 2, bytes.count - 8, bytes.count - 1]
        for cut in cuts {
            guard let e = decodeError(Array(bytes.prefix(cut))) else { continue }
            let inHeader = cut < 64
            XCTAssertEqual(e.problem, .truncated(expected: inHeader ? 64 : bytes.count, actual: cut, inHeader: inHeader),
                           "cut at \(cut)")
            XCTAssertTrue(e.description.contains("truncated: expected \(inHeader ? 64 : bytes.count) bytes, got \(cut)"),
                          e.description)
        }
    }

    func testFlippedPayloadByteIsChecksumMismatch() throws {
        let bytes = try sampleCheckpoint().encode()
        for position in [64, 70, 100, 200, bytes.count / 2, bytes.count - 9, bytes.count - 1] {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var b = bytes
                b[position] ^= mask
                guard let e = decodeError(b) else { continue }
                guard case .payloadChecksumMismatch = e.problem else {
                    XCTFail("byte \(position) ^ \(mask): \(e)")
                    continue
                }
                XCTAssertTrue(e.description.contains("payload checksum mismatch"), e.description)
            }
        }
    }

    func testFlippedHeaderByteIsRejected() throws {
        let bytes = try sampleCheckpoint().encode()
        for position in 0..<64 {
            var b = bytes
            b[position] ^= 0x10
            guard let e = decodeError(b) else { continue }
            if position < 8 {
                XCTAssertEqual(e.problem, .notACheckpoint, "byte \(position)")
            } else {
                guard case .headerChecksumMismatch = e.problem else {
                    XCTFail("byte \(position): \(e)")
                    continue
                }
                XCTAssertTrue(e.description.contains("header checksum mismatch"), e.description)
            }
        }
    }

    func testWrongMagicIsNotACheckpoint() throws {
        for bytes in [Array("hello, world\n".utf8), Array("MOPTCKPX".utf8) + [UInt8](repeating: 0, count: 100),
                      Array("{\"metaStep\": 1}".utf8), [0x7F, 0x45, 0x4C, 0x46]] {
            guard let e = decodeError(bytes) else { continue }
            XCTAssertEqual(e.problem, .notACheckpoint)
            XCTAssertTrue(e.description.hasPrefix("test.mopt: not a checkpoint"), e.description)
        }
    }

    func testUnsupportedVersion() throws {
        let bytes = try sampleCheckpoint().encode()
        for version: UInt32 in [0, 2, 0xFFFF_FFFF] {
            guard let e = decodeError(patchHeader(bytes, offset: 8, uint32: version)) else { continue }
            XCTAssertEqual(e.problem, .unsupportedVersion(version))
            XCTAssertTrue(e.description.contains("unsupported format version \(version)"), e.description)
        }
        // Unknown flags in an intact header.
        guard let e = decodeError(patchHeader(bytes, offset: 12, uint32: 1)) else { return }
        guard case .invalidHeader = e.problem else { return XCTFail("\(e)") }
    }

    func testTrailingBytesAreRejected() throws {
        let bytes = try sampleCheckpoint().encode()
        guard let e = decodeError(bytes + [0]) else { return }
        XCTAssertEqual(e.problem, .trailingBytes(expected: bytes.count, actual: bytes.count + 1))
    }

    func testHeaderStepMustMatchMetadata() throws {
        let bytes = try sampleCheckpoint(step: 7).encode()
        guard let e = decodeError(patchHeader(bytes, offset: 24, uint32: 8)) else { return }
        guard case .stepMismatch = e.problem else { return XCTFail("\(e)") }
    }

    func testMetadataOfAnotherConfigurationTypeIsInvalidMetadata() throws {
        struct Other: Codable { var hiddenUnits: Int }
        let bytes = try sampleCheckpoint().encode()
        XCTAssertThrowsError(try Checkpoint<Other>.decode(bytes, source: "test.mopt")) { error in
            guard case .invalidMetadata = (error as? CheckpointError)?.problem else { return XCTFail("\(error)") }
        }
        // Nor can a configuration type that would decode it by passing over keys it does not know
        // (an older build's, reading a newer one's checkpoint): the keys are named.
        struct Nothing: Codable, Equatable {}
        XCTAssertThrowsError(try Checkpoint<Nothing>.decode(bytes, source: "test.mopt")) { error in
            guard case .invalidMetadata(let text) = (error as? CheckpointError)?.problem else { return XCTFail("\(error)") }
            XCTAssertTrue(text.contains("does not know (configuration.learningRate, configuration.runSeed, configuration.task, configuration.unroll)"), text)
        }
    }

    func testUnknownKeysAreFoundAtAnyDepthButNullsAndLegacyKeysAreNot() throws {
        struct Inner: Codable { var a: Int; var b: Int? }
        struct Outer: Codable { var inner: Inner; var list: [Inner] }
        let metadata = CheckpointMetadata(metaStep: 1, seed: 2, globalMetaBatchSize: 3,
                                          configuration: Outer(inner: Inner(a: 1), list: [Inner(a: 2), Inner(a: 3, b: 4)]))
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(metadata)) as? [String: Any])
        func unknown() throws -> [String] {
            Checkpoint<Outer>.unknownKeys(in: Array(try JSONSerialization.data(withJSONObject: object)), decodedAs: metadata)
        }
        XCTAssertEqual(try unknown(), [], "what the build writes, it knows")
        object["configuration"] = ["inner": ["a": 1, "b": NSNull(), "directory": "/x"],
                                   "list": [["a": 2], ["a": 3, "b": 4, "c": 5]], "extra": ["z": 1]]
        XCTAssertEqual(try unknown(), ["configuration.extra", "configuration.list[1].c"])
        object["future"] = 1
        XCTAssertEqual(try unknown(), ["configuration.extra", "configuration.list[1].c", "future"])
    }

    func testInvalidNamesAndTypedAccessors() throws {
        var c = sampleCheckpoint()
        XCTAssertThrowsError(try c.float32("missing")) { error in
            XCTAssertEqual((error as? CheckpointError)?.problem, .missingTensor("missing"))
        }
        XCTAssertThrowsError(try c.float64("phi")) { error in
            XCTAssertEqual((error as? CheckpointError)?.problem,
                           .wrongTensorType(name: "phi", expected: .float64, actual: .float32))
        }
        c.tensors[""] = .float32([1])
        XCTAssertThrowsError(try c.encode()) { error in
            guard case .invalidArgument = (error as? CheckpointError)?.problem else { return XCTFail("\(error)") }
        }
        c.tensors[""] = nil
        c.tensors["bad shape"] = .float32([1, 2])
        c.tensors["bad shape"]!.shape = [3]
        XCTAssertThrowsError(try c.encode())
    }
}
