import CNMTKernels

/// A float weight matrix packed once for products repeated with few rows, such as each
/// decoding step's logits: ``Tensor/matmul(_:packed:addingRow:)`` multiplies by it.
///
/// BLAS packs its operand into its own layout on every call, and zeroes the output before
/// accumulating into it. For a decoding step's logits ([rows, 64] · [64, 8,340] with the
/// main job's model) those two passes took 17 % of a beam-search run, against 22 % for
/// the arithmetic (perf, 2026-12-07). Here the panels are made once per decoded batch.
///
/// Each output is one chain of fused multiply-adds over the depth in order, so the floats
/// are the same at every vector width and on every CPU. OpenBLAS's x86 kernels compute the
/// same chain while the depth fits one of their blocks: on an AMD EPYC with OpenBLAS's
/// Cooperlake kernels the results were equal bit for bit at depths 64 and 256, and
/// differed at 384, where OpenBLAS splits the depth.
///
/// Immutable; packing an [out, in] matrix takes one pass over it.
public final class PackedMatrix: Sendable {
    /// The length of each input row (the depth of the product).
    public let inputSize: Int
    /// The length of each output row.
    public let outputSize: Int
    /// Panels of 16 outputs, each [inputSize][16] (see `nmt_panel_pack`).
    private let panels: [Float]

    /// Packs `rows` [out, in], whose rows are the outputs (an embedding table used as the
    /// logits projection, `x · tableᵀ`).
    public init(transposing rows: Tensor) {
        precondition(rows.rank == 2, "PackedMatrix(transposing:): needs [out, in], got \(rows.shape)")
        let (outputs, inputs) = (rows.shape[0], rows.shape[1])
        (outputSize, inputSize) = (outputs, inputs)
        // Packed straight from the tensor's storage; the packing writes every slot, padding
        // included, so nothing is zeroed first (a decoded batch packs once, a server per request).
        panels = rows.withUnsafeBufferPointer { source in
            [Float](unsafeUninitializedCapacity: nmt_panel_count(outputs) * 16 * inputs) { panels, count in
                nmt_panel_pack(source.baseAddress, outputs, inputs, panels.baseAddress)
                count = panels.count
            }
        }
    }

    /// Writes `x` [rows, in] · W (+ bias) into `output` [rows, out], splitting the panels
    /// across cores when the work pays for it.
    fileprivate func multiply(
        _ x: UnsafePointer<Float>, rows: Int, bias: UnsafePointer<Float>?, into output: UnsafeMutablePointer<Float>
    ) {
        let count = nmt_panel_count(outputSize)
        panels.withUnsafeBufferPointer { panels in
            Parallel.forChunks(count, costPerItem: rows * inputSize * 16) { range in
                nmt_panel_matmul(
                    x, rows, inputSize, panels.baseAddress, outputSize, bias, output, range.lowerBound, range.upperBound)
            }
        }
    }
}

extension Tensor {
    /// `x · Wᵀ + bias` for `x` [..., in] and packed weights W [out, in], giving [..., out]
    /// (see ``PackedMatrix`` for the arithmetic). Inference only: no gradient, and it
    /// cannot be recorded by a static device.
    public static func matmul(_ x: Tensor, packed weights: PackedMatrix, addingRow bias: Tensor? = nil) -> Tensor {
        precondition(x.rank >= 1 && x.shape.last == weights.inputSize, "matmul(packed:): \(x.shape) · [\(weights.outputSize), \(weights.inputSize)]ᵀ")
        precondition(bias == nil || bias!.shape == [weights.outputSize], "matmul(packed:): bias \(bias!.shape) for \(weights.outputSize) outputs")
        let tape = GradientTape.common([x] + (bias.map { [$0] } ?? []), op: "matmul_packed")
        precondition(tape?.recorder == nil, "matmul(packed:) runs eagerly on the CPU; a static device cannot record it")
        let rows = x.shape.dropLast().reduce(1, *)
        let out = Tensor(uninitializedShape: x.shape.dropLast() + [weights.outputSize], tape: tape)
        let inputs = [x.buffer] + (bias.map { [$0.buffer] } ?? [])
        KernelDispatch.run(
            KernelLaunch("matmul_packed", inputs: inputs, outputs: [out.buffer]) { args in
                weights.multiply(args.input(0), rows: rows, bias: bias == nil ? nil : args.input(1), into: args.output(0))
            }, on: tape)
        return out
    }
}
