internal import CMetaOptKernels

/// The backward pass of `UnrollEngine`: the first-order meta-gradient by BPTT through every layer
/// (tile-major, so a tile's recurrent gradients stay in cache), and the second-order term.
extension UnrollEngine {
    /// The backward pass. First order: coordinates are independent, so each column tile runs
    /// through all T steps on its own (its recurrent dL/dh, dL/dc and adjoint stay in cache, its
    /// history is read as contiguous blocks). Second order: the Hessian couples a task's
    /// coordinates, so the steps are the outer loop.
    ///
    /// `perUnit` (first order only): `gradient` holds |φ| values per owned unit, and each unit's
    /// tile adds to its own (`truncation(phi:state:mode:unitGradients:)`); otherwise every tile adds
    /// to the one gradient.
    func backward(phi: UnsafePointer<S>, startStep: Int, mode: MetaGradientMode,
                  gradient: UnsafeMutablePointer<S>, perUnit: Bool) {
        let T = unroll
        let a = adjoint.base
        let wT = lossWeights[T], gT = gradients[T].base
        if mode == .firstOrder {
            for (position, unit) in units[ownedUnits].enumerated() {
                let lane = lanes[unit.lane], ti = unit.tile
                let g = perUnit ? gradient + position * layout.count : gradient
                startPhases()
                clearRecurrentGradients(lane, tile: ti)
                recomputeLastTanhCell(lane, tile: ti)
                // Adjoint of θ_T: w_T ∇f(θ_T).
                for seg in lane.tileSegments[ti] {
                    for k in seg.start..<(seg.start + seg.count) { a[k] = wT * gT[k] }
                }
                mark(.adjoint)
                for t in stride(from: T - 1, through: 0, by: -1) {
                    backwardStep(lane, tile: ti, step: t, phi: phi, mode: mode, gradient: g)
                    // a_t = a_{t+1} + w_t ∇f(θ_t).
                    let wt = lossWeights[t], gt = gradients[t].base
                    if wt != 0 {
                        for seg in lane.tileSegments[ti] {
                            for k in seg.start..<(seg.start + seg.count) { a[k] += wt * gt[k] }
                        }
                    }
                    mark(.adjoint)
                }
                if perUnit { reduceWeightGradients(lane, into: g) }
            }
            if !perUnit { reduceWeightGradients(gradient) }
            return
        }
        precondition(ownedUnits == units.indices, "the second-order mode cannot be sharded")
        let g = gradient
        let n = coordinateCount
        for i in 0..<n { a[i] = wT * gT[i] }
        for lane in lanes where lane.columns > 0 {
            for ti in lane.tiles.indices {
                clearRecurrentGradients(lane, tile: ti)
                recomputeLastTanhCell(lane, tile: ti)
            }
        }
        for t in stride(from: T - 1, through: 0, by: -1) {
            for lane in lanes where lane.columns > 0 {
                for ti in lane.tiles.indices {
                    startPhases()
                    backwardStep(lane, tile: ti, step: t, phi: phi, mode: mode, gradient: g)
                }
            }
            // a_t = a_{t+1} + w_t ∇f(θ_t) + H_t Jᵀ dL/dx_t.
            let wt = lossWeights[t], gt = gradients[t].base
            if wt != 0 { for i in 0..<n { a[i] += wt * gt[i] } }
            addSecondOrderTerm(step: startStep + t, slot: t)
        }
        reduceWeightGradients(g)
    }

    /// Zeroes dL/dc and dL/dX of every layer of a tile (padding included).
    private func clearRecurrentGradients(_ lane: Lane, tile ti: Int) {
        for l in lane.layers.indices { lane.layers[l].clearGradients(tile: ti) }
    }

    /// tanh(c) of the truncation's last step, every layer of a tile, into its slot (each later
    /// step's comes from the rebuild of h one step ahead).
    private func recomputeLastTanhCell(_ lane: Lane, tile ti: Int) {
        for l in lane.layers.indices { lane.layers[l].recomputeTanhCell(step: unroll - 1, tile: ti, kernels: kernels) }
    }

    /// Step t of the backward pass for one column tile: dL/du from the adjoint a_{t+1}, then each
    /// layer, last to first: its elementwise backward (the output head fused into the last
    /// layer's), the rebuild of its X, and its dW, db and dX products.
    private func backwardStep(_ lane: Lane, tile ti: Int, step t: Int, phi: UnsafePointer<S>, mode: MetaGradientMode,
                              gradient g: UnsafeMutablePointer<S>) {
        let scale = S(layout.config.outputScale)
        let a = adjoint.base
        let last = layerCount - 1
        let w = lane.tiles[ti].count
        // dL/du_t = scale · a_{t+1} (u is the network output before scaling).
        let du = lane.head.dUpdate.tile(ti).base
        for seg in lane.tileSegments[ti] {
            let src = a + seg.start, dst = du + seg.column
            for k in 0..<seg.count { dst[k] = scale * src[k] }
        }
        mark(.adjoint)
        // The next step's BPTT history is prefetched while the dW products run: they are
        // compute-bound, the elementwise kernels wait on memory.
        var prefetch = PrefetchList(buffer: prefetchBuffer, capacity: prefetchCapacity)
        addPrefetches(lane, tile: ti, step: t, mode: mode, into: &prefetch)
        var ranges = metaopt_prefetch(ranges: prefetchBuffer, count: Int32(prefetch.count), range: 0, offset: 0)
        var blocks = 0
        for l in lane.layers.indices { blocks += lane.layers[l].weightGradientBlocks(weightGradient) }
        // No blocks where every layer's dW goes to BLAS (4H not a multiple of 8, H = 1 on the
        // AVX-512 path, where this divided by zero): nothing then issues the prefetches.
        let perBlock = blocks > 0 ? (prefetch.lines + blocks - 1) / blocks : 0
        for l in stride(from: last, through: 0, by: -1) {
            let dz = lane.scratch(rows: lane.layers[l].layer.gates, width: w)
            // dh_t = (the layer above's dX input rows, or the head's wo du) + the recurrent part
            // from step t+1 (the layer's own dX recurrent rows).
            if l == last {
                lane.layers[l].backwardKernel(step: t, tile: ti, dHidden: lane.layers[l].recurrentGradient(tile: ti),
                                              dHiddenExtra: nil, head: lane.head.backward(phi: phi, gradient: g, tile: ti),
                                              dz: dz, gradient: g, kernels: kernels)
            } else {
                lane.layers[l].backwardKernel(step: t, tile: ti, dHidden: lane.layers[l + 1].inputGradient(tile: ti),
                                              dHiddenExtra: lane.layers[l].recurrentGradient(tile: ti), head: nil,
                                              dz: dz, gradient: g, kernels: kernels)
            }
            mark(.backwardKernel, layer: l)
            // X = [in_t; h_{t-1}], h = o ⊙ tanh(c) from the history; in_t is x_t for the first
            // layer, the layer below's h_t otherwise (its tanh c_t already recomputed: at step
            // t+1, or before the first step). h_{t-1} recomputes tanh c_{t-1}, which this layer's
            // backward kernel reads at step t-1.
            let x = lane.layers[l].rebuiltInput(width: w), inputRows = lane.layers[l].inputs
            if l == 0 {
                copyRows(lane.inputHistory[t].tile(ti), into: x.rows(0, inputRows))
            } else {
                lane.layers[l - 1].rebuildHidden(step: t, tile: ti, into: x.rows(0, inputRows), kernels: kernels)
            }
            lane.layers[l].recomputeHidden(step: t - 1, tile: ti, into: x.rows(inputRows, lane.layers[l].hidden),
                                           kernels: kernels)
            lane.layers[l].accumulateWeightGradient(dz: dz, gradient: g, using: weightGradient, prefetching: &ranges,
                                                    linesPerBlock: perBlock)
            mark(.weightGEMM, layer: l)
            // dX = W dZ. Above the first layer the input rows are the layer below's dh_t, and the
            // recurrent rows dh_{t-1}, which the first step does not need (the state at the start
            // of the truncation is a constant). The first layer's input rows are constants too,
            // except for the second-order term.
            let rows = lane.layers[l].layer.weightRows
            if l > 0 {
                lane.layers[l].inputProduct(phi: phi, dz: dz, tile: ti, rows: 0..<(t == 0 ? inputRows : rows),
                                            own: productKernels)
            } else if mode == .secondOrder {
                lane.layers[l].inputProduct(phi: phi, dz: dz, tile: ti, rows: 0..<rows, own: productKernels)
            } else if t > 0 {
                lane.layers[l].inputProduct(phi: phi, dz: dz, tile: ti, rows: inputRows..<rows, own: productKernels)
            }
            mark(.inputGEMM, layer: l)
        }
    }

    /// The BPTT history the backward pass reads after step t's dW products: the kernels of the
    /// layers below the last at step t, the last layer's kernel and the inputs at step t−1, the
    /// rebuilds of step t−1 (o at t−2; its c is the kernel's c_prev at t−1), and at t = 0 of a
    /// first-order pass the next tile's last two steps (the backward pass is tile-major).
    private func addPrefetches(_ lane: Lane, tile ti: Int, step t: Int, mode: MetaGradientMode,
                               into prefetch: inout PrefetchList) {
        let last = layerCount - 1
        // The layers are read in place (`lane.layers[l]....`), not bound to a copy.
        for l in stride(from: last - 1, through: 0, by: -1) {
            prefetch.add(lane.layers[l].gates[t].tile(ti).rows(0, 3 * lane.layers[l].hidden))
            prefetch.add(lane.layers[l].cell[t].tile(ti))
        }
        if t >= 1 {
            prefetch.add(lane.layers[last].gates[t - 1].tile(ti).rows(0, 3 * lane.layers[last].hidden))
            prefetch.add(lane.layers[last].cell[t - 1].tile(ti))
            prefetch.add(lane.inputHistory[t - 1].tile(ti))
        }
        if t >= 2 {
            for l in stride(from: last, through: 0, by: -1) {
                prefetch.add(lane.layers[l].outputGate(step: t - 2, tile: ti))
            }
        }
        if t == 0 && mode == .firstOrder && ti + 1 < lane.tiles.count && unroll >= 2 {
            let T = unroll, next = ti + 1
            prefetch.add(lane.layers[last].gates[T - 1].tile(next))
            prefetch.add(lane.inputHistory[T - 1].tile(next))
            // c_{T-1} (the first tanh c) and c_{T-2} (the kernel's c_prev, and the first rebuild's c).
            for l in stride(from: last, through: 0, by: -1) {
                prefetch.add(lane.layers[l].cell[T].tile(next))
                prefetch.add(lane.layers[l].cell[T - 1].tile(next))
            }
            for l in stride(from: last - 1, through: 0, by: -1) {
                prefetch.add(lane.layers[l].outputGate(step: T - 1, tile: next))
            }
            for l in stride(from: last, through: 0, by: -1) {
                prefetch.add(lane.layers[l].outputGate(step: T - 2, tile: next))
            }
        }
    }

    /// Adds the partial sums of dW (if any) to the gradient, and clears them.
    private func reduceWeightGradients(_ g: UnsafeMutablePointer<S>) {
        for lane in lanes { reduceWeightGradients(lane, into: g) }
    }

    /// The same for one lane.
    private func reduceWeightGradients(_ lane: Lane, into g: UnsafeMutablePointer<S>) {
        for l in lane.layers.indices { lane.layers[l].reduceWeightGradient(into: g, using: weightGradient) }
    }

    /// Adds H(θ_t) · (dL/d∇_t) to the adjoint: the path through the optimizee gradient that the
    /// first-order approximation drops.
    private func addSecondOrderTerm(step: Int, slot t: Int) {
        let n = coordinateCount
        let dg = scratchCoordinates.base
        dg.update(repeating: 0, count: n)
        for lane in lanes where lane.columns > 0 {
            for ti in lane.tiles.indices {
                for seg in lane.tileSegments[ti] {
                    layout.config.preprocessing.backward(gradients[t].base + seg.start, count: seg.count,
                                                         dInput: lane.layers[0].dInput.tile(ti), column: seg.column,
                                                         into: dg + seg.start)
                }
            }
        }
        for (b, task) in tasks.enumerated() {
            guard let second = task as? any SecondOrderOptimizee else {
                preconditionFailure("second-order meta-gradients need an optimizee with a Hessian")
            }
            let r = taskOffsets[b]..<taskOffsets[b + 1]
            var v = [Double](repeating: 0, count: r.count), hv = [Double](repeating: 0, count: r.count)
            for i in 0..<r.count { v[i] = Double(dg[r.lowerBound + i]) }
            let thetaT = (0..<r.count).map { Float(thetaHistory[t].base[r.lowerBound + $0]) }
            thetaT.withUnsafeBufferPointer { tp in
                v.withUnsafeBufferPointer { vp in
                    hv.withUnsafeMutableBufferPointer { second.hessianVectorProduct(at: tp, step: step, vector: vp, result: $0) }
                }
            }
            for i in 0..<r.count { adjoint.base[r.lowerBound + i] += S(hv[i]) }
        }
    }
}
