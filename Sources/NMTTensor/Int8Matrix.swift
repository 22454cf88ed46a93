import CNMTKernels

/// A weight matrix quantized to int8 for inference: each output column symmetrically with
/// its own scale (its absolute maximum / 127), packed once for the int8 kernels.
///
/// ``Tensor/matmul(_:int8:addingRow:relu:)`` multiplies activations by it: each row of
/// the activations is quantized the same way at run time, the products are summed in
/// int32, and the sums scaled back to floats. The integer sums are exact, so the result
/// is the same on every CPU and at every vector width (AVX-512 VNNI, AVX2, portable).
///
/// Immutable; quantizing an [in, out] matrix takes one pass over it.
public final class Int8Matrix: Sendable {
    /// Rows of the matrix: the length of each input row.
    public let inputSize: Int
    /// Columns: the length of each output row.
    public let outputSize: Int
    /// The kernels' layout (see `nmt_int8_pack_weights`).
    private let packed: [Int8]
    /// Each column's scale, zero-padded to whole blocks of 16.
    private let scales: [Float]
    /// Each column's sum of quantized values, for the VNNI kernel's unsigned activations.
    private let columnSums: [Int32]

    /// Quantizes `kernel` [in, out] (a `Linear` layer's kernel: outputs are columns).
    ///
    /// - Throws: ``Int8MatrixError/notFinite(row:column:)`` when an element is NaN or
    ///   infinite (a quantized column could not represent it).
    public convenience init(kernel: Tensor) throws(Int8MatrixError) {
        precondition(kernel.rank == 2, "Int8Matrix(kernel:): needs [in, out], got \(kernel.shape)")
        try self.init(kernel, inputSize: kernel.shape[0], outputSize: kernel.shape[1], rowStride: kernel.shape[1], columnStride: 1)
    }

    /// Quantizes `rows` [out, in], whose rows are the outputs (an embedding table used as
    /// the logits projection, `x · tableᵀ`).
    ///
    /// - Throws: ``Int8MatrixError/notFinite(row:column:)`` as ``init(kernel:)``, with the
    ///   position in `[in, out]` terms (row = input, column = output).
    public convenience init(transposing rows: Tensor) throws(Int8MatrixError) {
        precondition(rows.rank == 2, "Int8Matrix(transposing:): needs [out, in], got \(rows.shape)")
        try self.init(rows, inputSize: rows.shape[1], outputSize: rows.shape[0], rowStride: 1, columnStride: rows.shape[1])
    }

    private init(_ weights: Tensor, inputSize: Int, outputSize: Int, rowStride: Int, columnStride: Int) throws(Int8MatrixError) {
        let values = weights.scalars
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            // The element (i, j) sits at i·rowStride + j·columnStride.
            let (i, j) = rowStride == 1 ? (bad % inputSize, bad / inputSize) : (bad / outputSize, bad % outputSize)
            throw .notFinite(row: i, column: j)
        }
        self.inputSize = inputSize
        self.outputSize = outputSize
        let columns = nmt_int8_column_blocks(outputSize) * 16
        var packed = [Int8](repeating: 0, count: columns * nmt_int8_padded_depth(inputSize))
        var scales = [Float](repeating: 0, count: columns)
        var sums = [Int32](repeating: 0, count: columns)
        nmt_int8_pack_weights(values, inputSize, outputSize, rowStride, columnStride, &packed, &scales, &sums)
        self.packed = packed
        self.scales = scales
        columnSums = sums
    }

    /// The float matrix [in, out] the int8 values stand for (value × column scale), for
    /// tests and error analysis.
    public func dequantized() -> Tensor {
        let depth = nmt_int8_padded_depth(inputSize)
        var values = [Float](repeating: 0, count: inputSize * outputSize)
        for j in 0..<outputSize {
            let (block, lane) = (j / 16, j % 16)
            for i in 0..<inputSize {
                let q = packed[(block * depth / 4 + i / 4) * 64 + lane * 4 + i % 4]
                values[i * outputSize + j] = Float(q) * scales[j]
            }
        }
        return Tensor(shape: [inputSize, outputSize], scalars: values)
    }

    /// Runs the product on `rows` quantized rows into `output` [rows, out], splitting the
    /// column blocks across cores when the work pays for it.
    fileprivate func multiply(
        _ activations: UnsafePointer<Int8>, rowScales: UnsafePointer<Float>, rows: Int, bias: UnsafePointer<Float>?,
        relu: Bool, into output: UnsafeMutablePointer<Float>
    ) {
        let blocks = nmt_int8_column_blocks(outputSize)
        let costPerBlock = rows * nmt_int8_padded_depth(inputSize) * 16 / 8
        packed.withUnsafeBufferPointer { packed in
            scales.withUnsafeBufferPointer { scales in
                columnSums.withUnsafeBufferPointer { sums in
                    // Empty when a side is 0; the kernels then read nothing through them.
                    Parallel.forChunks(blocks, costPerItem: costPerBlock) { range in
                        nmt_int8_matmul(
                            activations, rowScales, rows, inputSize, packed.baseAddress, scales.baseAddress,
                            sums.baseAddress, outputSize, bias, relu ? 1 : 0, output, range.lowerBound, range.upperBound)
                    }
                }
            }
        }
    }
}

/// A matrix that cannot be quantized.
public enum Int8MatrixError: Error, Equatable, CustomStringConvertible {
    /// Element (row, column) of the [in, out] matrix is NaN or infinite.
    case notFinite(row: Int, column: Int)

    /// Says which element.
    public var description: String {
        switch self {
        case .notFinite(let row, let column):
            return "the weight at row \(row), column \(column) is not a finite number, so it has no int8 value"
        }
    }
}

extension Tensor {
    /// `x · W + bias` (then ReLU, when asked) for `x` [..., in] and a quantized `W` [in, out],
    /// giving [..., out]: each row of `x` is quantized to int8 with its absolute maximum,
    /// the products are summed exactly in int32, and each sum is scaled back by the row's
    /// and the column's scales. Inference only: no gradient, and it cannot be recorded by
    /// a static device (it allocates its quantized rows as it runs).
    ///
    /// Rounding each value to its nearest int8 step moves it by at most half a step, so
    /// output (r, j) differs from the float product by at most
    /// `sw/2·Σ_i|x_ri| + sx/2·Σ_i|W_ij| + in·sx·sw/4` (sx = max_i|x_ri|/127, sw =
    /// max_i|W_ij|/127), plus float rounding.
    public static func matmul(_ x: Tensor, int8 weights: Int8Matrix, addingRow bias: Tensor? = nil, relu: Bool = false) -> Tensor {
        precondition(x.rank >= 1 && x.shape.last == weights.inputSize, "matmul(int8:): \(x.shape) · [\(weights.inputSize), \(weights.outputSize)]")
        precondition(bias == nil || bias!.shape == [weights.outputSize], "matmul(int8:): bias \(bias!.shape) for \(weights.outputSize) outputs")
        let tape = GradientTape.common([x] + (bias.map { [$0] } ?? []), op: "matmul_int8")
        precondition(tape?.recorder == nil, "matmul(int8:) runs eagerly on the CPU; a static device cannot record it")
        let rows = x.shape.dropLast().reduce(1, *), k = weights.inputSize
        let out = Tensor(uninitializedShape: x.shape.dropLast() + [weights.outputSize], tape: tape)
        let inputs = [x.buffer] + (bias.map { [$0.buffer] } ?? [])
        KernelDispatch.run(
            KernelLaunch("matmul_int8", inputs: inputs, outputs: [out.buffer]) { args in
                var quantized = [Int8](repeating: 0, count: rows * nmt_int8_padded_depth(k))
                var rowScales = [Float](repeating: 0, count: rows)
                nmt_int8_quantize_rows(args.input(0), rows, k, &quantized, &rowScales)
                weights.multiply(
                    quantized, rowScales: rowScales, rows: rows, bias: bias == nil ? nil : args.input(1), relu: relu,
                    into: args.output(0))
            }, on: tape)
        return out
    }
}
