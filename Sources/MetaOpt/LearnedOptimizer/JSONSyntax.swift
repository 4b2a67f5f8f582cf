import Foundation

/// RFC 8259's grammar and UTF-8, checked byte by byte.
///
/// Foundation's readers are more lenient than JSON: `JSONSerialization` and `JSONDecoder` accept
/// a comma before `]` or `}`, and `JSONDecoder` does not look at the value of a key it does not
/// decode (`"note": 01`, or bytes that are not UTF-8 in its string). Python's `json`, which the
/// Python package reads optimizer files with, refuses all of them, so a file one reader took the
/// other refused.
package enum JSONSyntax {
    /// Where `data` first breaks UTF-8 or the grammar, and how; nil when it is one JSON value with
    /// only whitespace around it, after a byte order mark if any (RFC 8259 lets readers ignore
    /// one; `JSONDiagnosis.utf8` keeps a UTF-16 file's). NaN and the infinities are no JSON
    /// numbers (Python's `json` reads them; the Python package refuses them too).
    package static func firstError(in data: Data) -> (offset: Int, problem: String)? {
        let b = [UInt8](data)
        if let offset = firstNonUTF8(b) { return (offset, "a byte that is not UTF-8") }
        var i = b.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        /// Per open container: whether it is an object.
        var open: [Bool] = []

        func skipWhitespace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
        }
        func found() -> String {
            guard i < b.count else { return "the end" }
            return b[i] >= 0x20 && b[i] < 0x7F ? "'\(Character(Unicode.Scalar(b[i])))'" : String(format: "byte 0x%02X", b[i])
        }
        func string() -> String? {
            i += 1  // the opening quote
            while i < b.count {
                switch b[i] {
                case UInt8(ascii: "\""): i += 1; return nil
                case UInt8(ascii: "\\"):
                    guard i + 1 < b.count else { return "a string that does not end" }
                    let escape = b[i + 1]
                    if escape == UInt8(ascii: "u") {
                        let hex = b[min(i + 2, b.count)..<min(i + 6, b.count)]
                        guard hex.count == 4, hex.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }) else {
                            i += 1
                            return "a \\u escape without four hexadecimal digits"
                        }
                        i += 6
                    } else {
                        guard "\"\\/bfnrt".utf8.contains(escape) else { i += 1; return "an escape JSON does not have (\\\(Character(Unicode.Scalar(escape))))" }
                        i += 2
                    }
                case 0x00..<0x20: return "a control character in a string (write it as an escape)"
                default: i += 1
                }
            }
            return "a string that does not end"
        }
        func digits() -> Bool {
            let start = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            return i > start
        }
        func number() -> String? {
            if b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, b[i] >= 0x30, b[i] <= 0x39 else { return "a '-' without digits" }
            if b[i] == UInt8(ascii: "0") {
                i += 1
                if i < b.count, b[i] >= 0x30, b[i] <= 0x39 { return "a number with a leading zero" }
            } else { _ = digits() }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                guard digits() else { return "a number with no digits after its '.'" }
            }
            if i < b.count, b[i] | 0x20 == UInt8(ascii: "e") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard digits() else { return "a number with no digits in its exponent" }
            }
            return nil
        }
        func literal() -> String? {
            for word in ["true", "false", "null"] where b[i...].starts(with: word.utf8) {
                i += word.utf8.count
                return nil
            }
            return "\(found()) where a value belongs"
        }
        /// A key and its colon, at a '"'.
        func key() -> String? {
            guard i < b.count, b[i] == UInt8(ascii: "\"") else {
                return i < b.count && b[i] == UInt8(ascii: "}") ? "a comma before '}'" : "\(found()) where a key belongs"
            }
            if let problem = string() { return problem }
            skipWhitespace()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { return "\(found()) where a ':' belongs" }
            i += 1
            return nil
        }

        // Values, then what follows each: a comma, the end of its container, or the end.
        while true {
            skipWhitespace()
            guard i < b.count else { return (i, "the end where a value belongs") }
            let problem: String?
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1
                skipWhitespace()
                if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; problem = nil; break }
                open.append(true)
                if let p = key() { return (i, p) }
                continue
            case UInt8(ascii: "["):
                i += 1
                skipWhitespace()
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; problem = nil; break }
                open.append(false)
                continue
            case UInt8(ascii: "]"): return (i, open.last == false ? "a comma before ']'" : "']' where a value belongs")
            case UInt8(ascii: "\""): problem = string()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): problem = number()
            default: problem = literal()
            }
            if let problem { return (i, problem) }
            // After a value: close what ends here, then a comma, or the end of the text.
            while true {
                skipWhitespace()
                guard let object = open.last else {
                    return i == b.count ? nil : (i, "more after the value ends")
                }
                guard i < b.count else { return (i, "the end where '\(object ? "}" : "]")' or ',' belongs") }
                if b[i] == UInt8(ascii: object ? "}" : "]") {
                    open.removeLast()
                    i += 1
                    continue
                }
                guard b[i] == UInt8(ascii: ",") else { return (i, "\(found()) where ',' or '\(object ? "}" : "]")' belongs") }
                i += 1
                skipWhitespace()
                if object, let p = key() { return (i, p) }
                break
            }
        }
    }

    /// `data` with every zero written with an exponent (`0e1`, `-0.0e5`: a '0', maybe a point and
    /// more zeros, then the exponent) spelt `0` or `-0` and padded with spaces to its length, so
    /// that offsets stay the file's. Foundation's `JSONDecoder` refuses some of these valid
    /// spellings as a `Float` or `Double` (`0e1`, `0.00e5`, `-0.0e5`, but not `0e10` or `0.0e5`),
    /// which other programs' writers may produce and Python's `json` reads; other numbers, and
    /// bytes that are not such a number, are left as they are.
    package static func zerosSpeltPlainly(_ data: Data) -> Data {
        var b = [UInt8](data)
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\"") {
                // Past the string: an escaped character never ends it.
                i += 1
                while i < b.count, b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                i += 1
                continue
            }
            guard b[i] == UInt8(ascii: "-") || isDigit(b[i]) else { i += 1; continue }
            let start = i
            var j = i
            if b[j] == UInt8(ascii: "-") { j += 1 }
            let negative = j > start
            // One zero, then maybe a point and zeros only, then an exponent with digits.
            var zero = j < b.count && b[j] == UInt8(ascii: "0") && !(j + 1 < b.count && isDigit(b[j + 1]))
            if zero {
                j += 1
                if j < b.count, b[j] == UInt8(ascii: ".") {
                    j += 1
                    let digits = j
                    while j < b.count, b[j] == UInt8(ascii: "0") { j += 1 }
                    zero = j > digits && !(j < b.count && isDigit(b[j]))
                }
            }
            if zero, j < b.count, b[j] | 0x20 == UInt8(ascii: "e") {
                j += 1
                if j < b.count, b[j] == UInt8(ascii: "+") || b[j] == UInt8(ascii: "-") { j += 1 }
                let digits = j
                while j < b.count, isDigit(b[j]) { j += 1 }
                if j > digits {
                    let plain = Array((negative ? "-0" : "0").utf8)
                    b.replaceSubrange(start..<j, with: plain + Array(repeating: UInt8(ascii: " "), count: j - start - plain.count))
                }
            }
            // Past the rest of the token, whatever it was.
            i = max(j, start + 1)
            while i < b.count, isDigit(b[i]) || "+-.eE".utf8.contains(b[i]) { i += 1 }
        }
        return Data(b)
    }

    /// The offset of the first byte that does not begin a valid UTF-8 sequence (an overlong form,
    /// a surrogate, past U+10FFFF, or cut short); nil when all of `bytes` is UTF-8.
    private static func firstNonUTF8(_ bytes: [UInt8]) -> Int? {
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }
}
