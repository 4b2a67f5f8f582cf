import Foundation

/// Encodes a flat `Encodable` value (Int, Double, Bool and String properties) as one JSON object
/// on one line, ending in a newline: keys in the order the value encodes them (declaration order
/// for a synthesised conformance), numbers as Swift prints them (`0.1`, `1e-05`, `2.0`), and
/// non-finite numbers as `null`; nil optionals are left out. A `Provenance` value is written as a
/// nested object (`JSONEncoder`, sorted keys, slashes unescaped). This is the format metrics.jsonl and validation.jsonl have had
/// since their first version; `JSONEncoder` would reorder the keys and print `2.0` as `2`.
struct JSONLineEncoder {
    func encode<Line: Encodable>(_ value: Line) throws -> String {
        let writer = FieldWriter()
        try value.encode(to: writer)
        return "{" + writer.fields.joined(separator: ",") + "}\n"
    }

    /// A JSON string literal (the escaping config.json uses too).
    static func quoted(_ text: String) -> String { RunSettings.jsonString(text) }

    /// Collects "key":value fields; only a keyed container of plain values is supported.
    private final class FieldWriter: Encoder {
        var codingPath: [any CodingKey] = []
        var userInfo: [CodingUserInfoKey: Any] = [:]
        var fields: [String] = []

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            KeyedEncodingContainer(Fields<Key>(writer: self))
        }
        func unkeyedContainer() -> any UnkeyedEncodingContainer { preconditionFailure("JSONLineEncoder writes flat objects only") }
        func singleValueContainer() -> any SingleValueEncodingContainer { preconditionFailure("JSONLineEncoder writes flat objects only") }
    }

    private struct Fields<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let writer: FieldWriter
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil(forKey key: Key) throws { append("null", key) }

        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            switch value {
            case let v as Int: append("\(v)", key)
            case let v as Double: append(v.isFinite ? "\(v)" : "null", key)
            case let v as Bool: append(v ? "true" : "false", key)
            case let v as String: append(JSONLineEncoder.quoted(v), key)
            case let v as Provenance:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                append(String(decoding: try encoder.encode(v), as: UTF8.self), key)
            default:
                throw EncodingError.invalidValue(value, .init(codingPath: [key], debugDescription: "JSONLineEncoder writes Int, Double, Bool, String and Provenance values only"))
            }
        }

        private func append(_ json: String, _ key: Key) {
            writer.fields.append(JSONLineEncoder.quoted(key.stringValue) + ":" + json)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            preconditionFailure("JSONLineEncoder writes flat objects only")
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            preconditionFailure("JSONLineEncoder writes flat objects only")
        }
        mutating func superEncoder() -> any Encoder { preconditionFailure("JSONLineEncoder writes flat objects only") }
        mutating func superEncoder(forKey key: Key) -> any Encoder { preconditionFailure("JSONLineEncoder writes flat objects only") }
    }
}

extension JSONEncoder {
    /// Keys sorted, so the same value always encodes to the same bytes.
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
