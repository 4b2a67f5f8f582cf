/// Element type of a stored array. The raw value is the record kind in the file (see
/// docs/checkpoints.md); `elementSize` is the size of one element in bytes.
package enum TensorElementType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = 2
    case float64 = 3
    case int64 = 4

    package var elementSize: Int {
        switch self {
        case .float32: 4
        case .float64, .int64: 8
        }
    }

    package var description: String {
        switch self {
        case .float32: "Float32"
        case .float64: "Float64"
        case .int64: "Int64"
        }
    }
}

/// A named array in a checkpoint: a shape and flat row-major values, stored bit-exactly
/// (NaN payloads, signed zeros and subnormals survive a round trip unchanged).
///
/// Equality is bit-exact: two tensors are equal when their element types, shapes and the bit
/// patterns of all elements agree (so a NaN equals the same NaN, and 0.0 ≠ -0.0).
package struct TensorData: Sendable, Equatable, CustomStringConvertible {
    package enum Values: Sendable {
        case float32([Float])
        case float64([Double])
        case int64([Int64])
    }

    /// Dimensions, row-major. The product equals the element count (`[]` is a scalar: 1 element).
    package var shape: [Int]
    package var values: Values

    /// `shape` defaults to `[values.count]`; otherwise its product must equal the element count.
    package init(_ values: Values, shape: [Int]? = nil) {
        let count = Self.count(of: values)
        let shape = shape ?? [count]
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(shape.reduce(1, *) == count,
                     "shape \(shape) does not match the element count \(count)")
        self.shape = shape
        self.values = values
    }

    package static func float32(_ values: [Float], shape: [Int]? = nil) -> TensorData {
        TensorData(.float32(values), shape: shape)
    }
    package static func float64(_ values: [Double], shape: [Int]? = nil) -> TensorData {
        TensorData(.float64(values), shape: shape)
    }
    package static func int64(_ values: [Int64], shape: [Int]? = nil) -> TensorData {
        TensorData(.int64(values), shape: shape)
    }

    package var elementType: TensorElementType {
        switch values {
        case .float32: .float32
        case .float64: .float64
        case .int64: .int64
        }
    }

    /// Number of elements.
    package var count: Int { Self.count(of: values) }

    /// The values if the element type is Float32, else nil.
    package var float32Values: [Float]? { if case .float32(let v) = values { v } else { nil } }
    /// The values if the element type is Float64, else nil.
    package var float64Values: [Double]? { if case .float64(let v) = values { v } else { nil } }
    /// The values if the element type is Int64, else nil.
    package var int64Values: [Int64]? { if case .int64(let v) = values { v } else { nil } }

    package var description: String { "\(elementType)\(shape)" }

    package static func == (a: TensorData, b: TensorData) -> Bool {
        guard a.shape == b.shape else { return false }
        switch (a.values, b.values) {
        case let (.float32(x), .float32(y)): return x.map(\.bitPattern) == y.map(\.bitPattern)
        case let (.float64(x), .float64(y)): return x.map(\.bitPattern) == y.map(\.bitPattern)
        case let (.int64(x), .int64(y)): return x == y
        default: return false
        }
    }

    private static func count(of values: Values) -> Int {
        switch values {
        case .float32(let v): v.count
        case .float64(let v): v.count
        case .int64(let v): v.count
        }
    }
}
