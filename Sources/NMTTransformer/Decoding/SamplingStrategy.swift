import Foundation
import NMTTensor

/// Ancestral sampling: a token drawn at every step from the model's distribution, sharpened
/// or flattened by a temperature and optionally restricted to the top k tokens or to the
/// nucleus of probability p. Sentence i of a call draws from `seed` split by its position
/// i in the input, so its draws do not depend on which sentences share its batch.
public struct SamplingStrategy: DecodingStrategy, Equatable {
    /// Logits are divided by it before the softmax (below 1 sharpens, above 1 flattens).
    public var temperature: Float
    /// Draw only among the k most probable tokens (nil: all).
    public var topK: Int?
    /// Draw only among the most probable tokens whose probabilities add up to at least p
    /// (nucleus sampling; nil: all).
    public var topP: Float?
    /// The random stream.
    public var seed: UInt64

    /// Creates sampling settings.
    public init(temperature: Float = 1, topK: Int? = nil, topP: Float? = nil, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    /// "sampling (temperature 1.0, top-k 10, seed 0)".
    public var description: String {
        var parts = ["temperature \(temperature)"]
        if let topK { parts.append("top-k \(topK)") }
        if let topP { parts.append("top-p \(topP)") }
        parts.append("seed \(seed)")
        return "sampling (\(parts.joined(separator: ", ")))"
    }

    /// Why the temperature, k or p cannot be used, or nil.
    public var problem: String? {
        if !(temperature > 0) || !temperature.isFinite { return "temperature is \(temperature); must be positive and finite" }
        if let k = topK, k < 1 { return "topK is \(k); must be at least 1" }
        if let p = topP, !(p > 0 && p <= 1) { return "topP is \(p); must be in (0, 1]" }
        return nil
    }

    /// Draws every sentence's tokens; step s of the sentence at input position i draws its
    /// uniform number from `seed` split by i, then by s.
    public func decode(_ request: DecodingRequest, with model: Transformer) -> DecodedBatch {
        let rows = request.sentenceIndices
        let key = RandomKey(seed: seed)
        return model.decodeTokenByToken(request) { logProbs, sentence, step in
            let uniform = Tensor.randomUniform([1], key: key.split(UInt64(rows[sentence])).split(UInt64(step))).scalar
            return sample(logProbs, uniform: uniform)
        }
    }

    /// An id drawn with probability softmax(logProbs / temperature), restricted to the top
    /// k and to the nucleus of mass p, by the uniform number `uniform` in [0, 1).
    func sample(_ logProbs: UnsafeBufferPointer<Float>, uniform: Float) -> (id: Int32, logProb: Float) {
        // Candidates by decreasing probability (ties: lower id first), in double precision.
        var order = Array(0..<logProbs.count)
        order.sort { logProbs[$0] > logProbs[$1] || (logProbs[$0] == logProbs[$1] && $0 < $1) }
        if let k = topK { order.removeLast(max(0, order.count - k)) }
        let temperature = Double(self.temperature)
        let top = Double(logProbs[order[0]])
        var weights = order.map { j -> Double in
            let x = Double(logProbs[j])
            return x.isFinite ? Foundation.exp((x - top) / temperature) : 0
        }
        if let p = topP {
            let total = weights.reduce(0, +)
            var mass = 0.0, kept = 0
            while kept < weights.count && (kept == 0 || mass < Double(p) * total) {
                mass += weights[kept]
                kept += 1
            }
            weights.removeLast(weights.count - kept)
            order.removeLast(order.count - kept)
        }
        let target = Double(uniform) * weights.reduce(0, +)
        var cumulative = 0.0
        for (i, weight) in weights.enumerated() {
            cumulative += weight
            if target < cumulative { return (Int32(order[i]), logProbs[order[i]]) }
        }
        let last = order[weights.count - 1]
        return (Int32(last), logProbs[last])
    }
}
