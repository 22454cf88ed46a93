import Foundation
import NMTAccelerator
import NMTData
import NMTSchedule
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// Greedy decoding, sampling, the per-sentence length limit, n-gram blocking and
/// token-count batching, through the translator.
final class DecodingOptionsTests: XCTestCase {
    let lines = [
        "Good.", "This is a much longer sentence than the others.", "It is raining today.", "Yes", "Where is the station?",
    ]

    /// An untrained model of the sample corpus's vocabulary: its outputs repeat themselves,
    /// which is what the limits are for.
    func translator() throws -> Translator {
        let root = try SampleCorpus.prepared.get()
        let tokenizer = try Subtokenizer(vocabularyFile: root.appendingPathComponent("sample.vocab"))
        let model = try Transformer(
            configuration: SampleCorpus.configuration.withVocabularySize(tokenizer.vocabularySize), key: RandomKey(seed: 21))
        var translator = try Translator(model: model, tokenizer: tokenizer)
        translator.extraDecodeLength = 8
        return translator
    }

    func ids(_ translator: Translator, _ texts: [String]) throws -> [[Int32]] {
        try texts.map { try translator.tokenizer.encode($0) }
    }

    /// Sampling is seeded per input position: the same seed gives the same outputs, a
    /// sentence gets the same draw alone or among others, another seed gives others; top-k
    /// 1 and a tiny temperature are greedy.
    func testSamplingIsSeededPerSentenceAndNarrowsToGreedy() throws {
        var translator = try translator()
        // A per-sentence limit below every batch's width + extra length: where a runaway
        // output stops then does not depend on its batch.
        translator.options.lengthLimit = .init(ratio: 1, offset: 3)
        translator.options.strategy = .greedy
        let greedy = try translator.translate(lines)
        translator.options.strategy = .sampling(.init(temperature: 1.5, seed: 7))
        let sampled = try translator.translate(lines)
        XCTAssertEqual(try translator.translate(lines), sampled, "same seed, same draws")
        translator.batchSize = 2
        // Not exact by construction: other batches give other product shapes, whose
        // probabilities may differ by ~1e-6 relative; a draw changes only if its uniform
        // number falls that close to a boundary of the cumulative distribution, a chance of
        // about 1e-4 for this case's ~50 draws on any one CPU.
        XCTAssertEqual(try translator.translate(lines), sampled, "other batches, same draws")
        translator.options.strategy = .sampling(.init(temperature: 1.5, seed: 8))
        XCTAssertNotEqual(try translator.translate(lines), sampled, "another seed draws otherwise")
        translator.options.strategy = .sampling(.init(topK: 1, seed: 3))
        XCTAssertEqual(try translator.translate(lines), greedy, "top-k 1 is greedy")
        translator.options.strategy = .sampling(.init(topP: 1e-6, seed: 3))
        XCTAssertEqual(try translator.translate(lines), greedy, "a tiny nucleus is greedy")
        XCTAssertNotEqual(sampled, greedy)
    }

    /// The length limit caps every output at ratio · S + offset tokens; n-gram blocking
    /// leaves no n-gram twice in an output, with beam search and greedy decoding.
    func testLengthLimitAndRepeatBlocking() throws {
        let model = try translator().model
        let inputs = IndexTensor(shape: [3, 6], scalars: [5, 9, 14, 1, 0, 0, 7, 1, 0, 0, 0, 0, 30, 31, 32, 33, 34, 1])
        var options = DecodingOptions()
        options.extraDecodeLength = 30
        let free = model.translate(inputs, options: options, plan: .dynamicShapes).trimmedAtEOS
        XCTAssertTrue(free.contains { $0.count > 12 }, "the untrained model runs on: \(free)")
        func hasRepeats(_ output: [Int32], _ n: Int) -> Bool {
            let ngrams = (0..<max(0, output.count - n + 1)).map { Array(output[$0..<($0 + n)]) }
            return Set(ngrams).count < ngrams.count
        }
        XCTAssertTrue(free.contains { hasRepeats($0, 2) }, "the case repeats bigrams when nothing blocks them")
        options.lengthLimit = .init(ratio: 1, offset: 2)
        let limited = model.translate(inputs, options: options, plan: .dynamicShapes).trimmedAtEOS
        for (output, sourceLength) in zip(limited, [4, 2, 6]) {
            XCTAssertLessThanOrEqual(output.count, sourceLength + 2, "\(output)")
        }
        options.lengthLimit = nil
        for n in [1, 2, 3] {
            options.noRepeatNgramSize = n
            for strategy: any DecodingStrategy in [BeamSearchStrategy(), GreedyStrategy()] {
                options.strategy = strategy
                for output in model.translate(inputs, options: options, plan: .dynamicShapes).trimmedAtEOS {
                    XCTAssertFalse(hasRepeats(output, n), "\(strategy), n = \(n): \(output)")
                }
            }
        }
    }

    /// Token-count batches: whole sentences, longest first, at most the budget (or one
    /// sentence alone); a budget that forms translate.py's batches gives its translations.
    func testTokenCountBatching() throws {
        var translator = try translator()
        let sources = try ids(translator, lines)
        let reference = try translator.translate(lines)
        translator.batchTokens = 10_000
        XCTAssertEqual(try translator.translate(lines), reference, "one batch of all, as --batch 32")
        translator.batchTokens = 1
        translator.batchSize = 1
        let alone = try translator.translate(lines)
        translator.batchTokens = nil
        XCTAssertEqual(try translator.translate(lines), alone, "a 1-token budget puts every sentence alone")
        XCTAssertEqual(sources.count, 5)
        translator.batchTokens = 0
        XCTAssertThrowsError(try translator.translate(lines)) { XCTAssertTrue("\($0)".contains("batchTokens is 0"), "\($0)") }
    }

    /// Settings the search cannot use are refused with the setting's name.
    func testInvalidOptionsAreRefused() throws {
        var translator = try translator()
        let cases: [(any DecodingStrategy, String)] = [
            (SamplingStrategy(temperature: 0), "temperature is 0.0"),
            (SamplingStrategy(topK: 0), "topK is 0"), (SamplingStrategy(topP: 1.5), "topP is 1.5"),
            (BeamSearchStrategy(beamSize: 0), "beamSize is 0"),
        ]
        for (strategy, message) in cases {
            translator.options.strategy = strategy
            XCTAssertThrowsError(try translator.translate(lines)) { XCTAssertTrue("\($0)".contains(message), "\($0)") }
        }
        translator.options = DecodingOptions()
        translator.options.noRepeatNgramSize = 0
        XCTAssertThrowsError(try translator.translate(lines)) { XCTAssertTrue("\($0)".contains("noRepeatNgramSize is 0"), "\($0)") }
    }

    /// Values that once trapped or tried to allocate exabytes (a beam of 2⁶³ − 1, an extra
    /// length that overflows the source width, a length ratio of 1e30) are refused with a
    /// message naming the setting and its range, before anything is sized from them.
    func testOutOfRangeValuesAreRefusedBeforeDecoding() throws {
        let translator = try translator()
        func refuses(_ change: (inout DecodingOptions) -> Void, _ message: String, line: UInt = #line) {
            var options = DecodingOptions()
            change(&options)
            XCTAssertEqual(options.problem.map { $0.contains(message) }, true, "\(options.problem ?? "accepted")", line: line)
            var refusing = translator
            refusing.options = options
            XCTAssertThrowsError(try refusing.translate(lines), line: line) { XCTAssertTrue("\($0)".contains(message), "\($0)", line: line) }
        }
        refuses({ $0.strategy = .beamSearch(beamSize: Int.max, alpha: 0.6) }, "beamSize is 9223372036854775807; must be in 1...1000")
        refuses({ $0.strategy = .beamSearch(beamSize: 1 << 40, alpha: 0.6) }, "beamSize is 1099511627776")
        refuses({ $0.extraDecodeLength = Int.max }, "extraDecodeLength is 9223372036854775807; must be in 0...10000")
        refuses({ $0.lengthLimit = .init(ratio: 1e30, offset: 10) }, "lengthLimit.ratio is 1e+30")
        refuses({ $0.lengthLimit = .init(ratio: 1, offset: Int.min) }, "lengthLimit.offset is -9223372036854775808")
        refuses({ $0.noRepeatNgramSize = Int.max }, "noRepeatNgramSize is 9223372036854775807")
        // The largest accepted values cannot overflow the per-sentence limit.
        XCTAssertEqual(DecodingOptions.LengthLimit(ratio: 1_000, offset: 10_000).tokens(forSourceLength: Int.max), Int(Int32.max))
        XCTAssertEqual(DecodingOptions.LengthLimit(ratio: 0, offset: -10_000).tokens(forSourceLength: 5), 1)
    }

    /// A strategy written outside the library plugs in through `DecodingOptions.strategy`
    /// alone: the translator hands it every batch (here it copies the source, so each line
    /// translates into itself through the tokenizer), and options compare by strategy.
    func testAStrategyOfOnesOwnDecodesThroughTheTranslator() throws {
        var translator = try translator()
        translator.options.strategy = SourceCopyStrategy(marker: 1)
        XCTAssertEqual(try translator.translate(lines), lines)
        XCTAssertEqual(try translator.translate(lines, on: CPUDevice()), lines)
        XCTAssertEqual(translator.options, DecodingOptions(strategy: SourceCopyStrategy(marker: 1)).withExtraLength(8))
        XCTAssertNotEqual(translator.options, DecodingOptions(strategy: SourceCopyStrategy(marker: 2)).withExtraLength(8))
        XCTAssertNotEqual(translator.options, DecodingOptions().withExtraLength(8))
        translator.options.strategy = SourceCopyStrategy(marker: -1)
        XCTAssertThrowsError(try translator.translate(lines)) { XCTAssertTrue("\($0)".contains("marker is -1"), "\($0)") }
    }

    /// An int8 model translates through the translator alike with and without the CPU
    /// device; a static-shape device refuses it before decoding.
    func testInt8ModelsTranslateOnTheCPUAndAStaticDeviceRefusesThem() throws {
        let float = try translator()
        var int8 = try Translator(model: try float.model.int8Quantized(), tokenizer: float.tokenizer)
        int8.extraDecodeLength = 8
        let translated = try int8.translate(lines)
        XCTAssertEqual(translated.count, lines.count)
        XCTAssertEqual(try int8.translate(lines, on: CPUDevice()), translated)
        let device = try StaticShardedDevice(shards: 1, batchTokens: 64, maxLength: 16)
        XCTAssertThrowsError(try int8.translate(lines, on: device)) {
            guard case .invalidSetting(let reason) = $0 as? TranslatorError else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.contains("int8"), reason)
        }
    }
}

/// A decoding strategy that outputs each sentence's source ids (EOS included).
private struct SourceCopyStrategy: DecodingStrategy, Equatable {
    /// A setting, to compare strategies by.
    var marker: Int
    var description: String { "source copy \(marker)" }
    var problem: String? { marker < 0 ? "marker is \(marker); must be ≥ 0" : nil }

    func decode(_ request: DecodingRequest, with model: Transformer) -> DecodedBatch {
        let width = request.inputs.shape[1]
        let ids = request.inputs.scalars
        let sequences = (0..<request.batchSize).map { row in Array(ids[(row * width)..<((row + 1) * width)].filter { $0 != 0 }) }
        return DecodedBatch(sequences: sequences, scores: Array(repeating: 0, count: request.batchSize))
    }
}

extension DecodingOptions {
    fileprivate func withExtraLength(_ length: Int) -> DecodingOptions {
        var copy = self
        copy.extraDecodeLength = length
        return copy
    }
}
