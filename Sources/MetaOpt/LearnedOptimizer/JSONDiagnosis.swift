import Foundation

/// Why JSON bytes did not decode, in words that name the field.
///
/// Needed because Foundation's `JSONDecoder` reports a number that does not fit its field (1e-50
/// as a `Float`, -1 as a `UInt64`) as "The given data was not valid JSON", with no coding path,
/// and reports real syntax errors (NaN, which JSON does not have) the same way. This parses the
/// bytes again with `JSONSerialization`: a syntax error gets its position and the key before it;
/// valid JSON is searched for the first number that no field of ours could hold.
package enum JSONDiagnosis {
    /// One phrase for a message "PATH <phrase>", e.g. `is not valid JSON near "phi": …`.
    package static func describe(_ error: any Error, in data: Data) -> String {
        if case .keyNotFound? = error as? DecodingError, let path = codingPath(of: error) {
            return "is malformed: it has no field \(path)"
        }
        if let path = codingPath(of: error), !path.isEmpty {
            return "is malformed at \(path): \(debugDescription(of: error))"
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            let offset = characterOffset(in: detail)
            // A whole JSON value and then more (text appended to a file): said so, not "near" the
            // last key of the value, which is fine.
            if let offset, offset > 0, offset <= data.count,
               (try? JSONSerialization.jsonObject(with: data.prefix(offset), options: [.fragmentsAllowed])) != nil {
                return "is not valid JSON: it goes on after its value ends (at byte \(offset))"
            }
            let near = offset.flatMap { key(before: $0, in: data) }.map { " near \"\($0)\"" } ?? ""
            // A NaN or an infinity written as a number gets the hint; nothing else does.
            let hint = offset.map { looksNonFinite(at: $0, in: data) } == true ? " (NaN and infinities are not JSON numbers)" : ""
            return "is not valid JSON\(near): \(detail)\(hint)"
        }
        if let problem = strictSyntaxProblem(in: data) { return problem }
        if let problem = firstUnfitNumber(in: object, path: "") { return "has a bad value at \(problem)" }
        return "is malformed (\(debugDescription(of: error)))"
    }

    /// One phrase like `describe`'s for where `data` breaks JSON's grammar beyond what
    /// `JSONSerialization` refuses (a comma before `]`, a bad number as the value of a key that
    /// `JSONDecoder` skips: `JSONSyntax`); nil when it is strict JSON.
    /// `transcoded`: `data` is a UTF-16 or UTF-32 file's text as UTF-8 (`utf8`), whose offsets are
    /// not the file's.
    package static func strictSyntaxProblem(in data: Data, transcoded: Bool = false) -> String? {
        guard let (offset, problem) = JSONSyntax.firstError(in: data) else { return nil }
        let near = key(before: offset, in: data).map { " near \"\($0)\"" } ?? ""
        return "is not valid JSON\(near): \(problem) (at byte \(offset)\(transcoded ? " of its text as UTF-8" : ""))"
    }

    /// The keys that occur more than once in one object of `data` (valid JSON), each as its path
    /// from the outermost object (["optimizer", "hiddenSize"]; arrays add no component), sorted.
    /// JSON readers keep one of the values silently, and not the same one (Foundation's the first,
    /// Python's the last), so a file's readers could disagree. A scan of the bytes: strings with
    /// their escapes, and the objects and arrays open around each key. Keys compare as the
    /// decoders see them, after their escapes (`"phi"` and `"\u0070hi"` are the same key).
    package static func duplicateKeys(in data: Data) -> [[String]] {
        let bytes = [UInt8](utf8(data))
        // Per open object (keys) or array (nil): the keys seen, and the key last read in it.
        var open: [(keys: Set<String>?, last: String)] = []
        var duplicates: Set<[String]> = []
        var i = 0
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "{"): open.append(([], ""))
            case UInt8(ascii: "["): open.append((nil, ""))
            case UInt8(ascii: "}"), UInt8(ascii: "]"): if !open.isEmpty { open.removeLast() }
            case UInt8(ascii: "\""):
                let start = i + 1
                i += 1
                while i < bytes.count && bytes[i] != UInt8(ascii: "\"") { i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1 }
                let string = Array(bytes[start..<min(i, bytes.count)])
                var j = i + 1
                while j < bytes.count && [0x20, 0x09, 0x0A, 0x0D].contains(bytes[j]) { j += 1 }
                if j < bytes.count && bytes[j] == UInt8(ascii: ":"), let top = open.indices.last, open[top].keys != nil {
                    let name = key(spelled: string)
                    if !open[top].keys!.insert(name).inserted {
                        duplicates.insert(open.dropLast().filter { $0.keys != nil }.map(\.last) + [name])
                    }
                    open[top].last = name
                }
            default: break
            }
            i += 1
        }
        return duplicates.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// A key's name from its bytes between the quotes: its escapes (`\"`, `\u0070`, surrogate
    /// pairs) decoded as JSON decodes them; the bytes as they are where they are not a valid string.
    private static func key(spelled bytes: [UInt8]) -> String {
        guard bytes.contains(UInt8(ascii: "\\")) else { return String(decoding: bytes, as: UTF8.self) }
        let quoted = Data([UInt8(ascii: "\"")] + bytes + [UInt8(ascii: "\"")])
        return (try? JSONSerialization.jsonObject(with: quoted, options: [.fragmentsAllowed])) as? String
            ?? String(decoding: bytes, as: UTF8.self)
    }

    /// A plain decimal ("-340282356779733680000000000000000000000", "0.000…0700649", an
    /// NSDecimalNumber's stringValue) in scientific notation with the same digits
    /// ("-3.4028235677973368e38"); anything else as it is.
    static func scientific(_ plain: String) -> String {
        let sign = plain.hasPrefix("-") ? "-" : ""
        let unsigned = plain.dropFirst(sign.count)
        let parts = unsigned.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              !parts[0].isEmpty else { return plain }
        let all = parts.joined()
        guard let first = all.firstIndex(where: { $0 != "0" }) else { return plain }  // zero
        // The exponent of the first significant digit: its place counted from the point.
        let exponent = parts[0].count - 1 - all.distance(from: all.startIndex, to: first)
        var digits = all[first...]
        while digits.count > 1 && digits.last == "0" { digits.removeLast() }
        let mantissa = digits.count > 1 ? "\(digits.first!).\(digits.dropFirst())" : String(digits)
        return "\(sign)\(mantissa)e\(exponent)"
    }

    /// `data` as UTF-8: JSON in UTF-16 or UTF-32 transcoded (told apart by a byte order mark or
    /// the zero bytes of the first characters, as RFC 4627 does). `JSONDecoder` reads the others
    /// itself, but takes UTF-32LE's byte order mark (FF FE 00 00) for UTF-16's and refuses the file.
    package static func utf8(_ data: Data) -> Data {
        let b = [UInt8](data.prefix(4))
        guard b.count == 4, b.contains(0) || b.starts(with: [0xFE, 0xFF]) || b.starts(with: [0xFF, 0xFE]) else { return data }
        let encoding: String.Encoding = b[0] == 0 && b[1] == 0 ? .utf32BigEndian
            : b[2] == 0 && b[3] == 0 ? .utf32LittleEndian
            : b[0] == 0 || b[0] == 0xFE ? .utf16BigEndian : .utf16LittleEndian
        return String(data: data, encoding: encoding).map { Data($0.utf8) } ?? data
    }

    private static func codingPath(of error: any Error) -> String? {
        let path: [any CodingKey]
        switch error as? DecodingError {
        case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?, .keyNotFound(_, let c)?, .dataCorrupted(let c)?:
            path = c.codingPath
            if case .keyNotFound(let key, _)? = error as? DecodingError {
                return render(path + [key])
            }
        default: return nil
        }
        return render(path)
    }

    private static func render(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let i = key.intValue { text += "[\(i)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
        return text
    }

    private static func debugDescription(of error: any Error) -> String {
        switch error as? DecodingError {
        case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?, .keyNotFound(_, let c)?, .dataCorrupted(let c)?:
            return c.debugDescription
        default: return "\(error)"
        }
    }

    /// "… around character 8." → 8.
    private static func characterOffset(in detail: String) -> Int? {
        guard let range = detail.range(of: "character ") else { return nil }
        return Int(detail[range.upperBound...].prefix { $0.isNumber })
    }

    /// Whether the text at byte `offset` (or just after it) reads as NaN or an infinity.
    private static func looksNonFinite(at offset: Int, in data: Data) -> Bool {
        let window = String(decoding: data.dropFirst(max(0, offset - 1)).prefix(12), as: UTF8.self).lowercased()
            .drop { " \t\r\n:,[".contains($0) }
        return ["nan", "inf", "-inf", "+inf", "-nan"].contains { window.hasPrefix($0) }
    }

    /// The last object key that starts before byte `offset`.
    private static func key(before offset: Int, in data: Data) -> String? {
        let prefix = String(decoding: data.prefix(max(0, offset)), as: UTF8.self)
        guard let regex = try? NSRegularExpression(pattern: "\"([^\"\\\\]{1,64})\"\\s*:") else { return nil }
        let ns = prefix as NSString
        guard let match = regex.matches(in: prefix, range: NSRange(location: 0, length: ns.length)).last else { return nil }
        return ns.substring(with: match.range(at: 1))
    }

    /// The first number that our types cannot hold: φ's entries must be finite 32-bit floats that
    /// do not underflow to zero; seeds, counts and sizes must be whole numbers, not negative.
    private static func firstUnfitNumber(in value: Any, path: String) -> String? {
        switch value {
        case let object as [String: Any]:
            for key in object.keys.sorted() {
                if let p = firstUnfitNumber(in: object[key]!, path: path.isEmpty ? key : path + "." + key) { return p }
            }
        case let array as [Any]:
            for (i, element) in array.enumerated() {
                if let p = firstUnfitNumber(in: element, path: path + "[\(i)]") { return p }
            }
        case is String, is Bool, is NSNull: break
        case let number as NSNumber:
            let d = number.doubleValue
            let field = path.split(separator: ".").last.map { String($0.prefix { $0 != "[" }) } ?? path
            if field == "phi" || field == "values" {
                // A number of many digits comes as an NSDecimalNumber, exact, whose doubleValue is
                // not: rounded to a Float from its digits, as JSONDecoder rounds it (through the
                // Double, 3.4028235677973368e38 passed as the largest Float, which the decoder
                // refuses as past it).
                let digits = (number as? NSDecimalNumber).map { scientific($0.stringValue) }
                let written = digits ?? "\(d)"
                let f = digits.flatMap { Float($0) } ?? Float(d)
                if !f.isFinite { return "\(path): \(written) is beyond the range of a 32-bit float" }
                if f == 0 && d != 0 { return "\(path): \(written) underflows a 32-bit float" }
            }
            if ["seed", "iteration", "optimizerCount", "dimension", "hiddenSize", "hiddenSizes", "functions",
                "metaBatch", "blockSize", "unroll", "horizon", "iterations", "version", "offset", "shape", "count"].contains(field) {
                if d < 0 { return "\(path): must not be negative (got \(number))" }
                if d != d.rounded() { return "\(path): must be a whole number (got \(number))" }
                // Past 2^63 no whole-number field can hold it (a seed, unsigned, up to 2^64 - 1).
                if d >= (field == "seed" ? 18446744073709551616.0 : 9223372036854775808.0) {
                    return "\(path): \(number) is too large"
                }
            }
        default: break
        }
        return nil
    }
}
