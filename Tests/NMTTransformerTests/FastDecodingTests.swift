import Foundation
import NMTLayers
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// The reference's decoding with no caches at all: every step decodes each row's whole
/// prefix again, from encoder outputs tiled to the beams and reordered with them.
struct PrefixRecomputation: BeamSearchCache {
    /// Generated ids of each row so far (without the start id).
    var prefixes: [[Int32]]
    /// [rows, S, H] and [rows, 1, 1, S].
    var encoderOutputs: Tensor, bias: Tensor

    func selectingRows(_ rows: IndexTensor) -> PrefixRecomputation {
        PrefixRecomputation(
            prefixes: rows.scalars.map { prefixes[Int($0)] }, encoderOutputs: encoderOutputs.selectingRows(rows),
            bias: bias.selectingRows(rows))
    }

    /// Logits of the next token of every row after `lastIDs`, by a full decoder pass.
    mutating func logits(_ model: Transformer, lastIDs: IndexTensor, step: Int) -> Tensor {
        if step > 0 { for (r, id) in lastIDs.scalars.enumerated() { prefixes[r].append(id) } }
        let rows = prefixes.count
        let targets = IndexTensor(shape: [rows, step + 1], scalars: prefixes.flatMap { $0 + [0] })
        let all = model.decode(targets, encoderOutputs: encoderOutputs, attentionBias: bias, context: .inference(plan: .dynamicShapes))
        return all.slice(alongAxis: 1, step..<(step + 1)).reshaped(to: [rows, model.configuration.vocabularySize])
    }
}

/// The fast beam search (encoder-decoder keys and values once per batch, lazy beam
/// reordering, sentences leaving the batch, candidates straight from the logits) against
/// the reference search recomputed from scratch.
final class FastDecodingTests: XCTestCase {
    let configuration = TransformerConfiguration(vocabularySize: 12, hiddenSize: 16, layerCount: 2, headCount: 4, filterSize: 24)

    /// 5 sentences of 1-5 ids, EOS and padding, drawn from `seed`.
    func sources(seed: UInt64) -> IndexTensor {
        let draws = Tensor.randomUniform([5, 6], key: RandomKey(seed: seed)).scalars
        return IndexTensor(shape: [5, 6], scalars: draws.enumerated().map { i, u in
            let (row, column) = (i / 6, i % 6)
            return column < 1 + row ? 2 + Int32(u * 10) : (column == 1 + row ? 1 : 0)
        })
    }

    func referenceSearch(_ model: Transformer, _ inputs: IndexTensor, beam: Int, extra: Int) -> BeamSearch.Result {
        var search = BeamSearch(
            beamSize: beam, alpha: 0.6, maximumLength: inputs.shape[1] + extra, vocabularySize: configuration.vocabularySize)
        search.dropsFinishedSentences = false
        let (outputs, bias) = model.encode(inputs, context: .inference(plan: .dynamicShapes))
        let tiled = IndexTensor((0..<(inputs.shape[0] * beam)).map { Int32($0 / beam) })
        let cache = PrefixRecomputation(
            prefixes: Array(repeating: [], count: tiled.scalarCount), encoderOutputs: outputs.selectingRows(tiled),
            bias: bias.selectingRows(tiled))
        return search.search(initialIDs: Array(repeating: 0, count: inputs.shape[0]), cache: cache) { ids, step, cache in
            cache.logits(model, lastIDs: ids, step: step)
        }
    }

    /// The same best sequences (up to their EOS: a sentence whose best is final stops
    /// early, so its trailing padding is shorter, see `BeamSearch.needsOnlyTheBest`) and
    /// scores equal to rounding, over models and sentences where some finish early, some
    /// late and some run to the length limit. The two compute with products of different shapes (one new
    /// position per step against whole prefixes), which round differently on some GEMM
    /// kernels (OpenBLAS's Haswell and Zen kernels, not its SkylakeX one), so scores agree
    /// to ``decodingScoreTolerance`` and sequences wherever the runner-up is further behind.
    func testFastSearchEqualsTheReferenceRecomputedFromScratch() throws {
        var finished = 0, unfinished = 0, ties = 0
        for seed in UInt64(0)..<5 {
            let model = try Transformer(configuration: configuration, key: RandomKey(seed: 70 + seed))
            let inputs = sources(seed: 90 + seed)
            let fast = model.translate(inputs, beamSize: 3, alpha: 0.6, extraDecodeLength: 5)
            let reference = referenceSearch(model, inputs, beam: 3, extra: 5)
            ties += assertSameBestChoices(
                sequences: fast.trimmedAtEOS, scores: fast.scores,
                expectedSequences: reference.sequences.map { Array($0[0].dropFirst().prefix { $0 != 1 }) },
                expectedScores: reference.scores.map { $0[0] },
                runnerUpScores: reference.scores.map { $0[1] }, "seed \(seed)")
            for sequence in fast.sequences { if sequence.contains(1) { finished += 1 } else { unfinished += 1 } }
        }
        XCTAssertGreaterThan(finished, 0)
        XCTAssertGreaterThan(unfinished, 0)
        XCTAssertLessThan(ties, 5, "most of the 25 sentences are compared by sequence")
    }

    /// Sentences leave the batch once their result is final (the rows decoded shrink), and
    /// every beam's sequence and score stays what the search without leaving gives, to
    /// rounding: fewer rows make other product shapes (see ``assertSameBeams``).
    func testSentencesLeaveTheBatchWithTheirResultsUnchanged() throws {
        var shrank = false
        for seed in UInt64(0)..<5 {
            let model = try Transformer(configuration: configuration, key: RandomKey(seed: 80 + seed))
            let inputs = sources(seed: 100 + seed)
            var search = BeamSearch(beamSize: 3, alpha: 0.6, maximumLength: 12, vocabularySize: 12)
            let timing = ModelUtilities.positionalEncoding(length: 13, hiddenSize: 16)
            func run() -> (BeamSearch.Result, [Int]) {
                var rows: [Int] = []
                let result = search.search(initialIDs: Array(repeating: 0, count: 5), cache: model.decoderCache(for: inputs, copies: 3, plan: .dynamicShapes)) {
                    ids, step, cache in
                    rows.append(ids.scalarCount)
                    return model.decodeStep(ids, step: step, cache: &cache, timingSignal: timing, plan: .dynamicShapes)
                }
                return (result, rows)
            }
            let (leaving, rows) = run()
            search.dropsFinishedSentences = false
            let (staying, allRows) = run()
            assertSameBeams(leaving, staying, "seed \(seed)")
            XCTAssertTrue(allRows.allSatisfy { $0 == 15 })
            XCTAssertTrue(rows.allSatisfy { $0 % 3 == 0 && $0 <= 15 }, "whole sentences leave")
            shrank = shrank || rows.contains { $0 < 15 }
        }
        XCTAssertTrue(shrank, "some sentence left its batch early")
    }

    /// With `needsOnlyTheBest` a sentence stops once no alive beam can beat its best
    /// finished one: fewer rows are decoded, and the best sequence (up to EOS) and its
    /// score are those of the search that runs each sentence to the reference's bound.
    func testASentenceStopsOnceItsBestIsFinal() throws {
        var saved = 0
        for seed in UInt64(0)..<5 {
            let model = try Transformer(configuration: configuration, key: RandomKey(seed: 110 + seed))
            let inputs = sources(seed: 120 + seed)
            var search = BeamSearch(beamSize: 3, alpha: 0.6, maximumLength: 12, vocabularySize: 12)
            let timing = ModelUtilities.positionalEncoding(length: 13, hiddenSize: 16)
            func run() -> (BeamSearch.Result, Int) {
                var rows = 0
                let result = search.search(initialIDs: Array(repeating: 0, count: 5), cache: model.decoderCache(for: inputs, copies: 3, plan: .dynamicShapes)) {
                    ids, step, cache in
                    rows += ids.scalarCount
                    return model.decodeStep(ids, step: step, cache: &cache, timingSignal: timing, plan: .dynamicShapes)
                }
                return (result, rows)
            }
            let (full, fullRows) = run()
            search.needsOnlyTheBest = true
            let (best, bestRows) = run()
            XCTAssertLessThanOrEqual(bestRows, fullRows)
            saved += fullRows - bestRows
            let trimmed = { (result: BeamSearch.Result) in result.sequences.map { Array($0[0].dropFirst().prefix { $0 != 1 }) } }
            _ = assertSameBestChoices(
                sequences: trimmed(best), scores: best.scores.map { $0[0] }, expectedSequences: trimmed(full),
                expectedScores: full.scores.map { $0[0] }, runnerUpScores: full.scores.map { $0[1] }, "seed \(seed)")
        }
        XCTAssertGreaterThan(saved, 0, "some sentence stopped before the reference's bound")
    }

    /// Beam candidates straight from the logits equal log-softmax + beam log P + top-k over
    /// each sentence's beams, ties (many equal logits) and -inf beams included.
    func testBeamCandidatesEqualLogSoftmaxPlusTopK() {
        // Logits rounded to quarters: many exact ties within and across beams.
        let logits = Tensor(shape: [6, 37], scalars: patternTensor([6, 37], frequency: 0.7, amplitude: 3).scalars.map { ($0 * 4).rounded() / 4 })
        let base: [Float] = [0, -.infinity, -.infinity, -1.25, -2.5, -1.25]
        let fused = logits.beamCandidates(groupSize: 3, base: base, count: 6)
        var logProbs = logits.logSoftmax().scalars
        for r in 0..<6 { for j in 0..<37 { logProbs[r * 37 + j] += base[r] } }
        let (values, indices) = Tensor(shape: [2, 3 * 37], scalars: logProbs).topK(6)
        XCTAssertEqual(fused.values.map(\.bitPattern), values.scalars.map(\.bitPattern))
        XCTAssertEqual(fused.indices, indices.scalars)
        XCTAssertTrue(Set(values.scalars).count < 12, "the case has ties")
    }

    /// Reordering and appending in one copy gives the two operations' tensor.
    func testSelectingRowsWhileAppendingEqualsTheTwoOperations() {
        let cache = patternTensor([4, 3, 5], frequency: 0.3, amplitude: 1)
        let new = patternTensor([3, 1, 5], frequency: 0.9, amplitude: 1)
        let rows = IndexTensor([2, 2, 0])
        XCTAssertEqual(
            cache.selectingRows(rows, appending: new).scalars,
            Tensor.concatenate([cache.selectingRows(rows), new], alongAxis: 1).scalars)
        let same = patternTensor([3, 3, 5], frequency: 0.3, amplitude: 1)
        XCTAssertEqual(same.selectingRows(nil, appending: new).shape, [3, 4, 5])
        XCTAssertEqual(same.selectingRows(nil, appending: new).scalars, Tensor.concatenate([same, new], alongAxis: 1).scalars)
    }
}
