import CNMTKernels
import Synchronization

/// The output layer and its loss in tiles: logits `x · Wᵀ`, the label-smoothed softmax
/// cross-entropy and both gradients, with no [rows, vocabulary] gradient ever written.
///
/// Unfused, a training step of the main job's model wrote the 17 MB logits, read them
/// twice, wrote the 17 MB logits gradient, and BLAS packed that gradient twice more: more
/// than half of a one-core step. Here the forward pass computes a block of rows' logits
/// and their losses while the block is in cache; the backward pass takes the logits a tile
/// at a time (kept from the forward pass up to ``maximumStoredLogits``, computed again
/// above it), turns the tile into its gradient and multiplies it into both gradients while
/// it is in cache. Rows of padding, and rows whose loss gradient is 0, are left out.
///
/// The floats: logits are ``nmt_panel_matmul``'s chains; a row's loss, maximum and Σe^x are
/// ``nmt_cross_entropy_forward``'s; the gradient's elements are
/// ``nmt_cross_entropy_gradient_tile``'s; the weight gradient of vocabulary row v is one
/// chain over the kept rows in order; the hidden gradient of a row is the sum, in slot
/// order, of ``slots`` chains, each over one fixed part of the vocabulary in order. None of
/// it depends on the thread count or the tile sizes, only on the shapes and the vector
/// width (through the row sums of the forward pass).
enum ProjectedCrossEntropyKernels {
    /// Fixed parts of the vocabulary whose hidden-gradient chains run concurrently and are
    /// added in order at the end. A constant, so the floats do not depend on the cores.
    static let slots = 8
    /// Rows whose logits one forward block computes, for a hidden size of `depth`: 32 keep
    /// [32, V] in L2 for the loss pass. From depth 512 a block of 32 rows runs the logits
    /// kernel at only about 100 GFLOP/s on one core (its panels' stream pushes the rows out
    /// of L1), and 128 rows at 108 (C harness, depth 512, V 8,192-33,708, AMD EPYC Zen 4,
    /// 2026-12-08); at depth 256, 32 rows ran at 116 and 128 at 108. A row's floats do not
    /// depend on its block.
    static func forwardRows(depth: Int) -> Int { depth >= 512 ? 128 : 32 }
    /// Rows of a backward tile.
    static let tileRows = 64
    /// Panels (of 16 vocabulary rows) of a backward tile: 256 columns.
    static let tilePanels = 16

    /// Logits of up to this many floats (1 GiB) are kept from the forward pass for the
    /// backward pass, which otherwise computes them again tile by tile: the same floats
    /// either way. Keeping them made a one-core step of the main job's model 4-8 % faster
    /// and two replicas' steps 4-7 % (3 alternating rounds, AMD EPYC, 2026-12-07), and
    /// costs half the memory the unfused ops took (they kept the logits and their
    /// gradient); above the limit the op needs a few tiles. Settable for tests.
    package static let maximumStoredLogits = Atomic(1 << 28)

    /// The rows a pass computes: those not labelled `ignored` and, in the backward pass,
    /// with a nonzero loss gradient (a zero gradient row adds only zeros to every chain).
    static func keptRows(
        _ labels: UnsafePointer<Int32>, count: Int, ignored: Int32?, gradient: UnsafePointer<Float>? = nil
    ) -> [Int] {
        (0..<count).filter { row in labels[row] != ignored && (gradient.map { $0[row] != 0 } ?? true) }
    }

    /// Losses [rows] and per-row (maximum, Σ e^(x - max)) [rows, 2] of `x` [rows, depth]
    /// against the vocabulary `packed` (``nmt_panel_pack`` of W [width, depth]); rows
    /// labelled `ignored` get loss and statistics 0. With `logitsStore` ([rows, width] at
    /// most) the logits of the other rows, in row order, stay there for ``backward``.
    static func forward(
        _ x: UnsafePointer<Float>, packed: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
        loss: UnsafeMutablePointer<Float>, stats: UnsafeMutablePointer<Float>, logitsStore: UnsafeMutablePointer<Float>?,
        rows: Int, depth: Int, width: Int, on: Float, off: Float, ignored: Int32?
    ) {
        for r in 0..<rows where labels[r] != ignored {
            precondition(labels[r] >= 0 && Int(labels[r]) < width, "cross entropy: label \(labels[r]) out of range 0..<\(width)")
        }
        loss.initialize(repeating: 0, count: rows)
        stats.initialize(repeating: 0, count: 2 * rows)
        let kept = keptRows(labels, count: rows, ignored: ignored)
        let forwardRows = forwardRows(depth: depth)
        let blocks = (kept.count + forwardRows - 1) / forwardRows
        let panels = nmt_panel_count(width)
        Parallel.forChunks(blocks, costPerItem: forwardRows * width * depth * 2) { range in
            let scratch = logitsStore == nil ? UnsafeMutablePointer<Float>.allocate(capacity: forwardRows * width) : nil
            let block = UnsafeMutablePointer<Float>.allocate(capacity: forwardRows * (depth + 3))
            defer { scratch?.deallocate(); block.deallocate() }
            let (blockLoss, blockStats) = (block + forwardRows * depth, block + forwardRows * (depth + 1))
            var blockLabels = [Int32](repeating: 0, count: forwardRows)
            for b in range {
                let members = kept[(b * forwardRows)..<min(kept.count, (b + 1) * forwardRows)]
                for (i, row) in members.enumerated() {
                    (block + i * depth).update(from: x + row * depth, count: depth)
                    blockLabels[i] = labels[row]
                }
                let logits = scratch ?? logitsStore! + b * forwardRows * width
                nmt_panel_matmul(block, members.count, depth, packed, width, nil, logits, 0, panels)
                nmt_cross_entropy_forward_stats(logits, blockLabels, blockLoss, blockStats, members.count, width, on, off)
                for (i, row) in members.enumerated() {
                    loss[row] = blockLoss[i]
                    (stats[2 * row], stats[2 * row + 1]) = (blockStats[2 * i], blockStats[2 * i + 1])
                }
            }
        }
    }

    /// The gradients `dx` [rows, depth] and `dw` [width, depth] for loss gradients `g`
    /// [rows], from the forward pass's `stats` and `storedLogits` (its `logitsStore`, or
    /// nil to compute the logits again), the weights `w` [width, depth] and their panels
    /// `packed`. Rows labelled `ignored` or with g = 0 get zero gradient rows.
    static func backward(
        _ g: UnsafePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>, packed: UnsafePointer<Float>,
        labels: UnsafePointer<Int32>, stats: UnsafePointer<Float>, storedLogits: UnsafePointer<Float>?,
        dx: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>,
        rows: Int, depth: Int, width: Int, on: Float, off: Float, ignored: Int32?
    ) {
        let kept = keptRows(labels, count: rows, ignored: ignored, gradient: g)
        let count = kept.count
        // Where each kept row's logits lie in the forward pass's store (its rows are those
        // not ignored, in order).
        var storedRow: [Int] = []
        if storedLogits != nil {
            storedRow = [Int](repeating: 0, count: rows)
            var next = 0
            for r in 0..<rows where labels[r] != ignored { (storedRow[r], next) = (next, next + 1) }
        }
        // The kept rows packed together (their hidden vectors, gradients, statistics and
        // labels), then each slot's hidden-gradient chains, from +0.
        let keptX = UnsafeMutablePointer<Float>.allocate(capacity: count * (depth + 3))
        let (keptG, keptStats) = (keptX + count * depth, keptX + count * (depth + 1))
        let keptLabels = UnsafeMutablePointer<Int32>.allocate(capacity: count)
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: slots * count * depth)
        defer { keptX.deallocate(); keptLabels.deallocate(); partials.deallocate() }
        for (i, row) in kept.enumerated() {
            (keptX + i * depth).update(from: x + row * depth, count: depth)
            (keptG[i], keptLabels[i]) = (g[row], labels[row])
            (keptStats[2 * i], keptStats[2 * i + 1]) = (stats[2 * row], stats[2 * row + 1])
        }
        partials.initialize(repeating: 0, count: slots * count * depth)
        let panels = nmt_panel_count(width)
        Parallel.forChunks(slots, costPerItem: 6 * count * depth * width / slots) { range in
            let tile = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * tilePanels * 16)
            defer { tile.deallocate() }
            for slot in range {
                // The slot's vocabulary rows: whole panels, a fixed share of them.
                let (first, end) = (panels * slot / slots, panels * (slot + 1) / slots)
                guard first < end else { continue }
                (dw + first * 16 * depth).initialize(repeating: 0, count: (min(end * 16, width) - first * 16) * depth)
                let partial = partials + slot * count * depth
                for group in stride(from: first, to: end, by: tilePanels) {
                    let groupEnd = min(group + tilePanels, end)
                    let column = group * 16, columns = min(groupEnd * 16, width) - column, ld = (groupEnd - group) * 16
                    for top in stride(from: 0, to: count, by: tileRows) {
                        let tileCount = min(tileRows, count - top)
                        if let storedLogits {
                            // Read where the forward pass kept them: one call when the
                            // tile's rows lie consecutively there (no row was skipped for a
                            // zero gradient), else one per row.
                            let firstStored = storedRow[kept[top]]
                            let consecutive = storedRow[kept[top + tileCount - 1]] - firstStored == tileCount - 1
                            for i in stride(from: 0, to: tileCount, by: consecutive ? tileCount : 1) {
                                nmt_cross_entropy_gradient_tile(
                                    storedLogits + storedRow[kept[top + i]] * width + column, width, tile + i * ld, ld,
                                    consecutive ? tileCount : 1, columns, column, width, keptG + top + i,
                                    keptStats + 2 * (top + i), keptLabels + top + i, on, off)
                            }
                        } else {
                            nmt_panel_matmul_into(keptX + top * depth, tileCount, depth, packed, width, nil, tile, ld, group, groupEnd)
                            nmt_cross_entropy_gradient_tile(
                                nil, 0, tile, ld, tileCount, columns, column, width, keptG + top, keptStats + 2 * top,
                                keptLabels + top, on, off)
                        }
                        // The group's dW rows: chains over the kept rows, continued tile by tile.
                        nmt_accumulate_products(
                            tile, 1, ld, keptX + top * depth, depth, dw + column * depth, depth, columns, tileCount, depth)
                        // The slot's dx chains, continued over the group's vocabulary rows.
                        nmt_accumulate_products(
                            tile, ld, 1, w + column * depth, depth, partial + top * depth, depth, tileCount, columns, depth)
                    }
                }
            }
        }
        dx.initialize(repeating: 0, count: rows * depth)
        // dx of a kept row: its slots' chains added in slot order.
        Parallel.forChunks(count, costPerItem: slots * depth) { range in
            for i in range {
                let out = dx + kept[i] * depth
                for j in 0..<depth {
                    var sum = partials[i * depth + j]
                    for slot in 1..<slots { sum += partials[(slot * count + i) * depth + j] }
                    out[j] = sum
                }
            }
        }
    }
}
