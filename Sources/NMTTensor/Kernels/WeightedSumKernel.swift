/// `Σ weights[s] · sources[s]` over buffers of floats, summed in source order: how a
/// multi-replica device combines its replicas' gradients into one buffer it owns.
public enum WeightedSumKernel {
    /// Writes `weights[0]·sources[0] + weights[1]·sources[1] + ...` (each product rounded,
    /// then added left to right, as `a * w0 + b * w1` on tensors) into `output`.
    ///
    /// - Precondition: one weight per source, at least one source, and every buffer holds
    ///   `count` floats.
    public static func run(_ sources: [KernelBuffer], weights: [Float], count: Int, into output: KernelBuffer) {
        precondition(!sources.isEmpty && sources.count == weights.count, "WeightedSumKernel: one weight per source")
        precondition(
            (sources + [output]).allSatisfy { $0.byteCount >= count * MemoryLayout<Float>.stride },
            "WeightedSumKernel: a buffer holds fewer than \(count) floats")
        let pointers = sources.map { UnsafePointer($0.pointer(as: Float.self)) }
        let y = output.pointer(as: Float.self)
        Parallel.forChunks(count, costPerItem: sources.count) { range in
            let (first, w0) = (pointers[0], weights[0])
            for i in range { y[i] = first[i] * w0 }
            for s in 1..<pointers.count {
                let (x, w) = (pointers[s], weights[s])
                for i in range { y[i] += x[i] * w }
            }
        }
    }
}
