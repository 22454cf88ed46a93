import Foundation
import NMTLayers
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// Follows which sentence every row came from, to check that beams never cross sentences.
struct RowOrigins: BeamSearchCache {
    var origins: [Int32]
    func selectingRows(_ rows: IndexTensor) -> RowOrigins { RowOrigins(origins: rows.scalars.map { origins[Int($0)] }) }
}

final class DecodingTests: XCTestCase {
    func testLengthNormalizationReferenceValues() {
        // Documentation/Reference.md, length normalization (alpha 0.6).
        for (length, expected) in [(1, 1.0), (2, 1.0969026), (10, 1.7328621), (50, 3.7785647), (100, 5.5695849)] {
            // Float32 pow against the reference's printed values: within 1 ulp (~2.4e-7 relative).
            XCTAssertEqual(
                BeamSearch.lengthNormalization(alpha: 0.6, length: length), Float(expected), accuracy: Float(expected) * 2.5e-7)
        }
    }

    func testBeamHelperCasesFromReference() {
        // beam_search_test.py test_gather_beams / test_gather_topk_beams: x = range(24) as [2, 3, 4].
        let x = Tensor(shape: [6, 4], scalars: (0..<24).map(Float.init))
        let expected: [Float] = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23]
        // Beam indices [[1, 2], [0, 2]] as flat rows b·3 + i.
        XCTAssertEqual(x.selectingRows(IndexTensor([1, 2, 3, 5])).scalars, expected)
        let (_, top) = Tensor(shape: [2, 3], scalars: [0, 1, 1, 1, 0, 1]).topK(2)
        XCTAssertEqual(top.scalars, [1, 2, 0, 2], "ties resolve to the lower index first")
        // Tiling to the beam (expand_to_beam_size + flatten): rows repeated in place.
        XCTAssertEqual(
            x.selectingRows(IndexTensor([0, 0, 0, 1, 1, 1])).slice(alongAxis: 0, 2..<4).scalars, [0, 1, 2, 3, 4, 5, 6, 7])
    }

    /// Next-token log probabilities that depend only on the previous token (0 = start).
    /// Greedy takes 2 (0.6) first; the best finished sequence is [3, EOS] with 0.4 · 0.9.
    static let table: [Int32: [Float]] = [
        0: [0, 0.01, 0.59, 0.4, 0], 2: [0, 0.3, 0.3, 0.05, 0.35], 3: [0, 0.9, 0.05, 0.05, 0],
        4: [0, 0.5, 0.25, 0.25, 0],
    ]

    func tableLogits(_ ids: IndexTensor) -> Tensor {
        let rows = ids.scalars.flatMap { id in Self.table[id]!.map { $0 > 0 ? Foundation.log($0) : -1e4 } }
        return Tensor(shape: [ids.scalarCount, 5], scalars: rows)
    }

    /// The best length-normalized score over all sequences of up to `maximum` tokens ending in EOS.
    func bruteForceBest(maximum: Int) -> (sequence: [Int32], score: Float) {
        var best: ([Int32], Float) = ([], -.infinity)
        func extend(_ sequence: [Int32], _ logProb: Float) {
            guard sequence.count < maximum else { return }
            let probabilities = Self.table[sequence.last ?? 0]!
            for id in 1..<5 where probabilities[id] > 0 {
                let next = logProb + Foundation.log(probabilities[id])
                if id == 1 {
                    let score = next / BeamSearch.lengthNormalization(alpha: 0.6, length: sequence.count + 1)
                    if score > best.1 { best = (sequence + [1], score) }
                } else {
                    extend(sequence + [Int32(id)], next)
                }
            }
        }
        extend([], 0)
        return best
    }

    func testBeamSearchFindsTheBestSequenceOfTheTable() {
        let (expectedSequence, expectedScore) = bruteForceBest(maximum: 6)
        XCTAssertEqual(expectedSequence, [3, 1])
        let search = BeamSearch(beamSize: 3, alpha: 0.6, maximumLength: 6, vocabularySize: 5)
        let result = search.search(initialIDs: [0, 0], cache: RowOrigins(origins: [0, 0, 0, 1, 1, 1])) { ids, _, cache in
            XCTAssertEqual(cache.origins, [0, 0, 0, 1, 1, 1], "beams stay with their sentence")
            return tableLogits(ids)
        }
        for b in 0..<2 {
            XCTAssertEqual(Array(result.sequences[b][0].dropFirst().prefix(2)), expectedSequence)
            XCTAssertEqual(result.scores[b][0], expectedScore, accuracy: 1e-6)
            XCTAssertEqual(result.sequences[b][0].first, 0, "sequences start with the start id")
        }
        // Greedy would take 2 first: [2, 4, EOS] or [2, EOS] score lower.
        XCTAssertLessThan(Foundation.log(Float(0.59 * 0.3)) / 1.0969026, expectedScore)
    }

    func testUnfinishedSearchReturnsAliveBeamsWithRawLogProbabilities() {
        // Ids 2-5 are equally likely and EOS is never among the 2·beam best candidates, so
        // nothing finishes: the alive beams come back with raw log probabilities.
        let search = BeamSearch(beamSize: 2, alpha: 0.6, maximumLength: 3, vocabularySize: 6)
        let logits = Tensor(shape: [1, 6], scalars: [-1e4, -1e4, 0, 0, 0, 0])
        let result = search.search(initialIDs: [0], cache: RowOrigins(origins: [0, 0])) { ids, _, _ in
            logits.broadcasted(to: [ids.scalarCount, 6])
        }
        XCTAssertEqual(result.sequences[0][0], [0, 2, 2, 2], "ties go to the lowest ids")
        XCTAssertEqual(result.scores[0][0], 3 * Foundation.log(0.25), accuracy: 1e-5, "3 · ln(1/4), not length-normalized")
    }

    let configuration = TransformerConfiguration(vocabularySize: 9, hiddenSize: 8, layerCount: 2, headCount: 2, filterSize: 12)
    let inputs = IndexTensor(shape: [2, 4], scalars: [3, 5, 1, 0, 6, 2, 4, 1])

    func testCachedDecodingEqualsRecomputingThePrefix() throws {
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 3))
        let targets = IndexTensor(shape: [2, 5], scalars: [4, 7, 2, 8, 1, 5, 5, 3, 1, 0])
        let (outputs, bias) = model.encode(inputs, context: .inference(plan: .dynamicShapes))
        let full = model.decode(targets, encoderOutputs: outputs, attentionBias: bias, context: .inference(plan: .dynamicShapes))
        var cache = model.decoderCache(for: inputs, copies: 1, plan: .dynamicShapes)
        XCTAssertNotNil(cache.outputWeights, "hidden 8: the steps' logits come from the packed projection")
        let timing = ModelUtilities.positionalEncoding(length: 6, hiddenSize: 8)
        let t = targets.scalars
        for step in 0..<5 {
            let last = step == 0 ? [Int32(0), 0] : [t[step - 1], t[5 + step - 1]]
            let logits = model.decodeStep(IndexTensor(last), step: step, cache: &cache, timingSignal: timing, plan: .dynamicShapes)
            assertClose(
                logits, full.slice(alongAxis: 1, step..<(step + 1)).reshaped(to: [2, 9]), absoluteTolerance: 1e-5,
                "step \(step)")
        }
    }

    /// Decoding packs the logits projection for float models up to hidden 256 only: wider
    /// ones and int8 models keep their own products.
    func testPackedLogitsAreForFloatModelsUpToTheWidthLimit() throws {
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 3))
        let packed = try XCTUnwrap(model.packedOutputWeights())
        XCTAssertEqual([packed.inputSize, packed.outputSize], [8, 9])
        XCTAssertNil(try model.int8Quantized().packedOutputWeights())
        let limit = Transformer.packedLogitsMaximumHiddenSize
        for (hidden, expectsPacking) in [(limit, true), (limit + 8, false)] {
            let wide = try Transformer(
                configuration: TransformerConfiguration(vocabularySize: 9, hiddenSize: hidden, layerCount: 1, headCount: 2, filterSize: 12),
                key: RandomKey(seed: 5))
            XCTAssertEqual(wide.packedOutputWeights() != nil, expectsPacking, "hidden \(hidden)")
        }
    }

    func testTranslationScoreEqualsTeacherForcedLogProbability() throws {
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 4))
        let decoded = model.translate(inputs, beamSize: 4, alpha: 0.6, extraDecodeLength: 6)
        for b in 0..<2 {
            let sequence = decoded.sequences[b]
            XCTAssertLessThanOrEqual(sequence.count, 4 + 6)
            // A finished sentence scores its log probability over (5 + len)/6)^α; an unfinished
            // one (no EOS within the limit) its raw log probability.
            let eos = sequence.firstIndex(of: 1)
            let prefix = eos.map { Array(sequence[...$0]) } ?? sequence
            let row = inputs.scalars[(b * 4)..<(b * 4 + 4)]
            let (o, bb) = model.encode(IndexTensor(shape: [1, 4], scalars: Array(row)), context: .inference(plan: .dynamicShapes))
            let logProbs = model.decode(
                IndexTensor(shape: [1, prefix.count], scalars: prefix), encoderOutputs: o, attentionBias: bb,
                context: .inference(plan: .dynamicShapes)
            ).logSoftmax()
            var total: Float = 0
            for (position, id) in prefix.enumerated() { total += logProbs[0, position, Int(id)] }
            let expected = eos == nil ? total : total / BeamSearch.lengthNormalization(alpha: 0.6, length: prefix.count)
            XCTAssertEqual(decoded.scores[b], expected, accuracy: 1e-4, "sentence \(b)")
            XCTAssertEqual(decoded.trimmedAtEOS[b], Array(sequence[..<(eos ?? sequence.count)]))
        }
        let greedy = model.greedyDecode(inputs, extraDecodeLength: 6)
        XCTAssertEqual(greedy.sequences.count, 2)
        XCTAssertTrue(greedy.sequences.allSatisfy { $0.count <= 10 && ($0.last == 1 || $0.count == 10) })
    }

    /// Static-shape decoding steps (preallocated caches written in place, attention over all
    /// positions with the causal bias) give the dynamic steps' logits, and the caches keep
    /// their shape.
    func testStaticDecodeStepsEqualDynamicSteps() throws {
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 5))
        let t: [Int32] = [4, 7, 2, 8, 1, 5, 5, 3, 1, 0]
        var dynamicCache = model.decoderCache(for: inputs, copies: 1, plan: .dynamicShapes)
        var staticCache = model.staticDecoderCache(for: inputs, copies: 1, maximumDecodeLength: 7, plan: .staticShapes)
        let timing = ModelUtilities.positionalEncoding(length: 8, hiddenSize: 8)
        let causal = ModelUtilities.decoderSelfAttentionBias(length: 7)
        for step in 0..<5 {
            let last = IndexTensor(step == 0 ? [0, 0] : [t[step - 1], t[5 + step - 1]])
            let expected = model.decodeStep(last, step: step, cache: &dynamicCache, timingSignal: timing, plan: .dynamicShapes)
            let logits = model.staticDecodeStep(last, step: step, cache: &staticCache, timingSignal: timing, causalBias: causal, plan: .staticShapes)
            assertClose(logits, expected, absoluteTolerance: 1e-5, relativeTolerance: 1e-5, "step \(step)")
            XCTAssertEqual(staticCache.layers.map(\.keys.shape), [[2, 7, 8], [2, 7, 8]], "shapes never change")
            // Positions written so far equal the dynamic cache; later ones are still zero.
            let dynamicValues = dynamicCache.selfAttention[1].gathered(dynamicCache.origins).values
            assertClose(staticCache.layers[1].values.slice(alongAxis: 1, 0..<(step + 1)), dynamicValues, absoluteTolerance: 1e-6)
            XCTAssertTrue(staticCache.layers[0].keys.slice(alongAxis: 1, (step + 1)..<7).scalars.allSatisfy { $0 == 0 })
        }
    }

    /// The static-shape beam search returns the dynamic search's translations (same ids
    /// where the runner-up is not a tie, scores equal to rounding) for sentences that finish
    /// and ones that run to the length limit.
    func testStaticBeamSearchReturnsTheDynamicTranslations() throws {
        let configuration = TransformerConfiguration(vocabularySize: 12, hiddenSize: 16, layerCount: 2, headCount: 4, filterSize: 24)
        var finished = 0, unfinished = 0
        for seed in UInt64(0)..<6 {
            let model = try Transformer(configuration: configuration, key: RandomKey(seed: 40 + seed))
            let draws = Tensor.randomUniform([3, 5], key: RandomKey(seed: 60 + seed)).scalars
            // 3 sentences of 2-4 ids then EOS and padding.
            let sources = IndexTensor(shape: [3, 5], scalars: draws.enumerated().map { i, u in
                let (row, column) = (i / 5, i % 5)
                return column < 2 + row ? 2 + Int32(u * 10) : (column == 2 + row ? 1 : 0)
            })
            let dynamic = model.translate(sources, beamSize: 3, alpha: 0.6, extraDecodeLength: 4)
            let fixed = model.translateStatic(sources, maximumDecodeLength: 9, search: BeamSearchStrategy(beamSize: 3, alpha: 0.6), plan: .staticShapes)
            // Other product shapes (attention over all 9 positions): equal to rounding.
            let runnersUp = model.allBeams(sources, beamSize: 3, alpha: 0.6, extraDecodeLength: 4).scores.map { $0[1] }
            assertSameBestChoices(
                sequences: fixed.trimmedAtEOS, scores: fixed.scores, expectedSequences: dynamic.trimmedAtEOS,
                expectedScores: dynamic.scores, runnerUpScores: runnersUp, "seed \(seed)")
            XCTAssertTrue(fixed.sequences.allSatisfy { $0.count == 9 }, "static results have the full static length")
            for sequence in dynamic.sequences { if sequence.contains(1) { finished += 1 } else { unfinished += 1 } }
        }
        XCTAssertGreaterThan(finished, 0, "some sentences finish")
        XCTAssertGreaterThan(unfinished, 0, "some run to the length limit")
    }

    /// Padded decoding is the same search on preallocated sequences.
    func testPaddedBeamSearchEqualsTheDynamicSearchOnTheTable() {
        var search = BeamSearch(beamSize: 3, alpha: 0.6, maximumLength: 6, vocabularySize: 5)
        let dynamic = search.search(initialIDs: [0, 0], cache: RowOrigins(origins: [0, 0, 0, 1, 1, 1])) { ids, _, _ in tableLogits(ids) }
        search.paddedDecode = true
        let padded = search.search(initialIDs: [0, 0], cache: RowOrigins(origins: [0, 0, 0, 1, 1, 1])) { ids, _, _ in tableLogits(ids) }
        // Exact: both searches read the same table of logits and do the same arithmetic.
        XCTAssertEqual(padded.scores, dynamic.scores)
        for (p, d) in zip(padded.sequences.joined(), dynamic.sequences.joined()) {
            XCTAssertEqual(p.count, 7)
            XCTAssertEqual(Array(p.prefix(d.count)), d)
            XCTAssertTrue(p.dropFirst(d.count).allSatisfy { $0 == 0 })
        }
    }

    /// Reordering a static cache moves each row's written positions and (across sentences)
    /// its encoder outputs with it, and keeps every shape.
    func testStaticCacheReorderingMovesRows() throws {
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 6))
        var cache = model.staticDecoderCache(for: inputs, copies: 1, maximumDecodeLength: 5, plan: .staticShapes)
        let timing = ModelUtilities.positionalEncoding(length: 6, hiddenSize: 8)
        let causal = ModelUtilities.decoderSelfAttentionBias(length: 5)
        for step in 0..<2 {
            _ = model.staticDecodeStep(IndexTensor([Int32(step), 3]), step: step, cache: &cache, timingSignal: timing, causalBias: causal, plan: .staticShapes)
        }
        let before = cache
        let keys = before.layers[0].keys.scalars, outputs = before.encoderOutputs.scalars
        let swapped = cache.selectingRows(IndexTensor([1, 0]))
        let rowSize = 5 * 8, written = 2 * 8
        XCTAssertEqual(swapped.layers[0].keys.shape, [2, 5, 8])
        XCTAssertEqual(Array(swapped.layers[0].keys.scalars[0..<written]), Array(keys[rowSize..<(rowSize + written)]))
        XCTAssertEqual(Array(swapped.layers[0].keys.scalars[rowSize..<(rowSize + written)]), Array(keys[0..<written]))
        let outputRow = inputs.shape[1] * 8
        XCTAssertEqual(Array(swapped.encoderOutputs.scalars[0..<outputRow]), Array(outputs[outputRow...]))
        XCTAssertEqual(swapped.writtenPositions, 2)
    }
}
