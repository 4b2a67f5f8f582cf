internal import CZlib

/// gzip through the system zlib. Internal: the data loaders decompress with it, and the tests
/// write their small gzip files with `compress`.
enum Gzip {
    /// Whether `bytes` start with the gzip magic 1f 8b.
    static func hasMagic(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// Decompresses a gzip file's bytes (several concatenated members are read one after the other,
    /// like gzip(1) does). `path` only names the file in errors.
    static func decompress(_ input: [UInt8], path: String) throws(DataError) -> [UInt8] {
        // The last four bytes of a gzip member hold its uncompressed size modulo 2^32: a good first
        // guess for the output size (exact for single-member files under 4 GiB; +1 so that the
        // end of the stream is seen without growing the buffer).
        var capacity = 1 << 16
        if input.count >= 18 {
            let n = input.count
            let isize = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
            // Deflate expands at most ~1032:1, so a damaged trailer cannot ask for gigabytes.
            capacity = max(capacity, min(isize + 1, 1032 * n))
        }
        var output = [UInt8](repeating: 0, count: capacity)
        var produced = 0
        var stream = z_stream()
        var status = metaopt_inflate_init(&stream)
        guard status == Z_OK else { throw .badGzip(path: path, reason: "zlib inflateInit2 failed (\(status))") }
        defer { inflateEnd(&stream) }

        guard !input.isEmpty else { throw .badGzip(path: path, reason: "empty file") }
        let maxChunk = 1 << 30  // avail_in / avail_out are 32-bit
        var consumed = 0
        var failure: String? = nil
        input.withUnsafeBufferPointer { inBuf in
            while true {
                if produced == output.count {
                    // A gzip bomb (or a damaged stream) must not grow the buffer without end.
                    guard output.count < RegularFile.dataFileLimit else {
                        failure = "decompresses to more than \(RegularFile.dataFileLimit) bytes"
                        return
                    }
                    output.append(contentsOf: repeatElement(0, count: output.count))
                }
                let inChunk = min(inBuf.count - consumed, maxChunk)
                let outChunk = min(output.count - produced, maxChunk)
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress! + consumed)
                stream.avail_in = UInt32(inChunk)
                status = output.withUnsafeMutableBufferPointer { outBuf in
                    stream.next_out = outBuf.baseAddress! + produced
                    stream.avail_out = UInt32(outChunk)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                produced += outChunk - Int(stream.avail_out)
                consumed += inChunk - Int(stream.avail_in)
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    // Another member follows? Otherwise stop and ignore the rest, as gzip(1) does (it
                    // warns where the rest is not zeros); the IDX reader checks the sizes it needs.
                    if inBuf.count - consumed >= 2 && inBuf[consumed] == 0x1f && inBuf[consumed + 1] == 0x8b {
                        // Fails only on a stream inflateInit never set up: a bug here.
                        precondition(inflateReset(&stream) == Z_OK, "inflateReset failed")
                        continue
                    }
                    return
                case Z_BUF_ERROR:
                    if stream.avail_out == 0 || (inChunk == maxChunk && stream.avail_in == 0) { continue }
                    failure = "unexpected end of compressed data"
                    return
                default:
                    failure = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    return
                }
            }
        }
        if let failure { throw .badGzip(path: path, reason: failure) }
        output.removeSubrange(produced...)
        return output
    }

    /// Compresses `input` into a single gzip member.
    static func compress(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
        var stream = z_stream()
        // The call stays outside the precondition, which -Ounchecked builds would skip.
        let status = metaopt_deflate_init_gzip(&stream, level)
        precondition(status == Z_OK, "zlib deflateInit2 failed")
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(input.count))) + 32
        var output = [UInt8](repeating: 0, count: bound)
        var input = input
        let written: Int = input.withUnsafeMutableBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                let status = deflate(&stream, Z_FINISH)
                precondition(status == Z_STREAM_END, "zlib deflate failed (\(status))")
                return outBuf.count - Int(stream.avail_out)
            }
        }
        output.removeSubrange(written...)
        return output
    }
}
