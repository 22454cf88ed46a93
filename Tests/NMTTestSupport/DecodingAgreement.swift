import NMTTensor
import NMTTransformer
import XCTest

/// How far two decodings' scores may differ when they compute the same search with
/// products of different shapes or in a different order: relative 1e-5, with an absolute
/// floor of 1e-5 for scores near zero.
///
/// Why this value: two summation orders of a length-K dot product differ by at most about
/// 2·K·u of the sum of the terms' magnitudes (u = 2⁻²⁴ ≈ 6e-8), 2.9e-6 for the widest
/// product of the test models (K = 24). A GEMM kernel (OpenBLAS's SkylakeX against its
/// Haswell or Zen kernels) or a 1-row product against the same row inside a larger one
/// reorders those sums, and layer norm and log-softmax do not amplify the differences in
/// these small models: measured on 2026-12-06, AMD EPYC, OpenBLAS 0.3.21 with
/// `OPENBLAS_CORETYPE=Haswell`, cached against recomputed beam-search scores differed by at
/// most 3e-7 relative. 1e-5 is about 3× the single-product bound and 30× what was seen.
public let decodingScoreTolerance: Float = 1e-5

/// The tolerance of ``decodingScoreTolerance`` for a score of this size.
public func decodingTolerance(at score: Float) -> Float { decodingScoreTolerance * max(1, abs(score)) }

/// Asserts that a search's best sequences and scores agree with another computation of the
/// same search, and returns how many sentences were ties.
///
/// Scores must agree within ``decodingTolerance(at:)`` (3 times it for a tie). Sequences are compared only where
/// the expected best beats the runner-up by more than twice that tolerance (both scores may
/// move by it); closer candidates are a tie that rounding may decide either way, and are
/// counted instead.
///
/// - Parameters:
///   - sequences, scores: the decoding under test, one per sentence.
///   - expectedSequences, expectedScores: the other computation's best, one per sentence.
///   - runnerUpScores: the other computation's second-best score per sentence (nil where
///     there is none).
@discardableResult
public func assertSameBestChoices(
    sequences: [[Int32]], scores: [Float], expectedSequences: [[Int32]], expectedScores: [Float],
    runnerUpScores: [Float?], _ message: @autoclosure () -> String = "", file: StaticString = #filePath,
    line: UInt = #line
) -> Int {
    guard sequences.count == expectedSequences.count, scores.count == expectedScores.count,
        runnerUpScores.count == expectedScores.count, scores.count == sequences.count
    else {
        XCTFail("\(sequences.count) results against \(expectedSequences.count). \(message())", file: file, line: line)
        return 0
    }
    var ties = 0
    for b in scores.indices {
        let (score, expected) = (scores[b], expectedScores[b])
        let tolerance = decodingTolerance(at: expected)
        let tie = runnerUpScores[b].map { expected - $0 <= 2 * tolerance } ?? false
        // A tie may have been decided for the runner-up, up to 2 tolerances below.
        if score != expected {
            XCTAssertEqual(
                score, expected, accuracy: tie ? 3 * tolerance : tolerance, "sentence \(b) score. \(message())", file: file,
                line: line)
        }
        if tie {
            ties += 1
        } else {
            XCTAssertEqual(sequences[b], expectedSequences[b], "sentence \(b). \(message())", file: file, line: line)
        }
    }
    return ties
}

/// Asserts that two complete beam-search results (every beam of every sentence, best first)
/// agree: scores within ``decodingTolerance(at:)`` (3 times it for tied beams), and each beam's sequence where its score
/// is more than twice that tolerance from its neighbours' (a closer pair may swap places).
/// Returns how many beams were compared only by score.
@discardableResult
public func assertSameBeams(
    _ actual: BeamSearch.Result, _ expected: BeamSearch.Result, _ message: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line
) -> Int {
    guard actual.scores.map(\.count) == expected.scores.map(\.count) else {
        XCTFail("beam counts \(actual.scores.map(\.count)) != \(expected.scores.map(\.count)). \(message())", file: file, line: line)
        return 0
    }
    var ties = 0
    for (b, scores) in expected.scores.enumerated() {
        for k in scores.indices {
            let tolerance = decodingTolerance(at: scores[k])
            let neighbours = [k - 1, k + 1].filter { scores.indices.contains($0) }.map { scores[$0] }
            let tie = neighbours.contains { abs($0 - scores[k]) <= 2 * tolerance }
            // Tied beams may have swapped places: their scores may differ by up to 3 tolerances.
            if actual.scores[b][k] != scores[k] {
                XCTAssertEqual(
                    actual.scores[b][k], scores[k], accuracy: tie ? 3 * tolerance : tolerance,
                    "sentence \(b) beam \(k). \(message())", file: file, line: line)
            }
            if tie {
                ties += 1
            } else {
                XCTAssertEqual(actual.sequences[b][k], expected.sequences[b][k], "sentence \(b) beam \(k). \(message())", file: file, line: line)
            }
        }
    }
    return ties
}

extension Transformer {
    /// The beam search of `translate(_:options:sentenceIndices:plan:)` with every beam
    /// kept ([B][beam], best first, sequences starting with the start id), for finding how
    /// far each sentence's best is ahead of its runner-up.
    public func allBeams(_ inputs: IndexTensor, beamSize: Int, alpha: Float, extraDecodeLength: Int) -> BeamSearch.Result {
        let maximumLength = inputs.shape[1] + extraDecodeLength
        var search = BeamSearch(
            beamSize: beamSize, alpha: alpha, maximumLength: maximumLength, vocabularySize: configuration.vocabularySize)
        search.dropsFinishedSentences = false
        let timing = ModelUtilities.positionalEncoding(length: maximumLength + 1, hiddenSize: configuration.hiddenSize)
        return search.search(
            initialIDs: [Int32](repeating: 0, count: inputs.shape[0]), cache: decoderCache(for: inputs, copies: beamSize, plan: .dynamicShapes)
        ) { ids, step, cache in
            decodeStep(ids, step: step, cache: &cache, timingSignal: timing, plan: .dynamicShapes)
        }
    }
}

extension Transformer {
    /// Beam search of `beamSize` beams and `alpha` up to S + `extraDecodeLength` tokens, on
    /// the dynamic-shape plan: the settings most decoding tests vary.
    public func translate(_ inputs: IndexTensor, beamSize: Int, alpha: Float, extraDecodeLength: Int) -> DecodedBatch {
        var options = DecodingOptions(strategy: BeamSearchStrategy(beamSize: beamSize, alpha: alpha))
        options.extraDecodeLength = extraDecodeLength
        return translate(inputs, options: options, plan: .dynamicShapes)
    }

    /// Greedy decoding up to S + `extraDecodeLength` tokens, on the dynamic-shape plan.
    public func greedyDecode(_ inputs: IndexTensor, extraDecodeLength: Int) -> DecodedBatch {
        var options = DecodingOptions(strategy: GreedyStrategy())
        options.extraDecodeLength = extraDecodeLength
        return translate(inputs, options: options, plan: .dynamicShapes)
    }
}
