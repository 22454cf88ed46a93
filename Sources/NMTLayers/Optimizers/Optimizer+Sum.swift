import CNMTKernels
import NMTTensor

// The update of a process that computed its step's gradient in parts (its replicas): the
// sum of the parts inside the update, instead of in a buffer first.
extension Optimizer {
    /// Applies one update along the weighted sum of several gradients, and returns that
    /// sum: how a device whose replicas each computed a part of the step's gradient
    /// updates, with nothing to exchange.
    ///
    /// The gradient of each parameter is `Σ scale · gradient` over `terms` in order, from
    /// +0 (zeros where no term has one): the floats of adding each term into a zeroed
    /// buffer and updating along the buffer. For an element-wise optimizer
    /// (``updatesElementwise``) each block of a parameter is summed and updated at once,
    /// across the cores in one fork and join, so the update reads the sum from cache
    /// instead of in another pass over memory; otherwise the sum comes first, then
    /// ``update(_:along:learningRate:)``.
    ///
    /// - Parameters:
    ///   - parameters: the model, updated in place.
    ///   - terms: the gradients and their weights (for replicas, each part's share).
    ///   - learningRate: this step's rate.
    /// - Returns: the summed gradients (for the step's gradient norm).
    @discardableResult
    public mutating func update<Parameters: ParameterContainer>(
        _ parameters: inout Parameters, alongSumOf terms: [(scale: Float, gradients: ParameterGradients)],
        learningRate: Float
    ) -> ParameterGradients {
        var names: [String] = []
        var sums: [String: Tensor] = [:]
        // Per parameter: where its sum goes, its size, and each term's gradient and weight.
        var summed: [(sum: UnsafeMutablePointer<Float>, count: Int, sources: [(UnsafePointer<Float>, Float)])] = []
        var pending: [ParameterMemory] = []
        let elementwise = updatesElementwise
        let constants = elementwise ? beginStep(learningRate: learningRate) : nil
        parameters.visitParameters { name, parameter in
            let sum = Tensor(shape: parameter.shape, buffer: KernelBuffer(capacity: parameter.scalarCount, of: Float.self))
            let sources = terms.compactMap { term -> (UnsafePointer<Float>, Float)? in
                guard let gradient = term.gradients[name] else { return nil }
                precondition(
                    gradient.shape == parameter.shape,
                    "Optimizer.update: gradient of \(name) is \(gradient.shape), the parameter \(parameter.shape)")
                return (UnsafePointer(gradient.buffer.pointer(as: Float.self)), term.scale)
            }
            let pointer = sum.buffer.pointer(as: Float.self)
            names.append(name)
            sums[name] = sum
            summed.append((pointer, parameter.scalarCount, sources))
            if elementwise { pending.append(memory(of: name, &parameter, gradient: UnsafePointer(pointer))) }
        }
        // From +0, each term in order (`nmt_weighted_sum`): one block's floats, whichever
        // thread sums it.
        let termScales = summed.map { entry in entry.sources.map(\.1) }
        func sumBlock(_ index: Int, _ elements: Range<Int>) {
            let (sum, _, sources) = summed[index]
            let start = elements.lowerBound
            // The terms' pointers at the block's start, on the stack: no allocation per block.
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: sources.count) { pointers in
                for (term, source) in sources.enumerated() { pointers[term] = source.0 + start }
                nmt_weighted_sum(pointers.baseAddress, termScales[index], sources.count, sum + start, elements.count)
            }
        }
        let blocks = Self.elementwiseBlocks(counts: summed.map(\.count))
        // The terms' pointers are read inside; the terms live until the sums are done.
        withExtendedLifetime(terms) {
            if let constants {
                Parallel.forChunks(blocks.count, costPerItem: Self.elementwiseBlockSize * (4 + terms.count)) { range in
                    for (index, elements) in blocks[range] {
                        sumBlock(index, elements)
                        apply(constants, to: pending[index], elements: elements)
                    }
                }
            } else {
                Parallel.forChunks(blocks.count, costPerItem: Self.elementwiseBlockSize * terms.count) { range in
                    for (index, elements) in blocks[range] { sumBlock(index, elements) }
                }
            }
        }
        let gradients = ParameterGradients(names: names, tensors: sums)
        if !elementwise { update(&parameters, along: gradients, learningRate: learningRate) }
        return gradients
    }
}
