import Foundation

/// The LSTM layers' forward products z = Wᵀ X of an engine as Winograd's inner products
/// (`FloatKernels.pairedProduct`): each layer's Wᵀ prepared once per φ, as whole vectors, and
/// prepared again only when φ changes (a forward-only stepper calls with the same φ every step).
final class PairedForwardProducts {
    private let kernels: FloatKernels
    /// Per lane, per layer: where the layer's weights lie in φ, its prepared weights, and X's rows
    /// kept out of the pairs (the first layer's inputs, the preprocessed gradient: a raw gradient
    /// of 10³ beside weights of 0.3 made the paired products 50 times less accurate than plain).
    private let layers: [[(layer: ParameterLayout.Layer, prepared: UnsafeMutablePointer<Float>, unpaired: Int)]]
    /// X's rows for one block of columns (the largest layer's).
    private let packed: UnsafeMutablePointer<Float>
    /// φ as last prepared.
    private let preparedPhi: UnsafeMutablePointer<Float>
    private let phiCount: Int
    private var isPrepared = false

    init(kernels: FloatKernels, layout: ParameterLayout, workspace ws: Workspace<Float>) {
        precondition(kernels.hasPairedProducts, "the \(kernels.path.rawValue) path has no paired products")
        self.kernels = kernels
        layers = layout.blocks.map { block in
            block.layers.enumerated().map { l, layer in
                (layer, ws.vector(FloatKernels.pairedFloats(m: layer.gates, k: layer.weightRows)).base, l == 0 ? layer.inputs : 0)
            }
        }
        packed = ws.vector(Self.packedFloats(layout)).base
        phiCount = layout.count
        preparedPhi = ws.vector(layout.count).base
    }

    /// Floats an engine with `layout` allocates for its paired products (`UnrollEngine.statedBytes`).
    static func scalars(_ layout: ParameterLayout) -> Int {
        var n = Workspace<Float>.stride(for: packedFloats(layout)) + Workspace<Float>.stride(for: layout.count)
        for block in layout.blocks {
            for layer in block.layers {
                n += Workspace<Float>.stride(for: FloatKernels.pairedFloats(m: layer.gates, k: layer.weightRows))
            }
        }
        return n
    }

    private static func packedFloats(_ layout: ParameterLayout) -> Int {
        let k = layout.blocks.flatMap(\.layers).map(\.weightRows).max() ?? 1
        return FloatKernels.pairedPackedFloats(k: k)
    }

    /// Prepares every layer's weights from `phi`, unless they were prepared from the same values.
    func prepare(phi: UnsafePointer<Float>) {
        if isPrepared && memcmp(preparedPhi, phi, phiCount * MemoryLayout<Float>.stride) == 0 { return }
        preparedPhi.update(from: phi, count: phiCount)
        for lane in layers {
            for (layer, prepared, unpaired) in lane {
                kernels.pairedPrepare(m: layer.gates, k: layer.weightRows, a: phi + layer.weight, rowStride: 1,
                                      innerStride: layer.gates, unpaired: unpaired, into: prepared)
            }
        }
        isPrepared = true
    }

    /// z = Wᵀ X for layer `l` of lane `o` over x's columns (`prepare` first).
    func product(lane o: Int, layer l: Int, x: MatrixView<Float>, into z: MatrixView<Float>) {
        let (layer, prepared, unpaired) = layers[o][l]
        kernels.pairedProduct(m: layer.gates, columns: x.columns, k: layer.weightRows, prepared: prepared, b: x.base,
                              ldb: x.stride, unpaired: unpaired, c: z.base, ldc: z.stride, packed: packed)
    }
}
