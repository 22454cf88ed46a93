import NMTServer
import NMTTransformer
import XCTest

/// How a request's search fields apply to the server's default search.
final class TranslationRequestTests: XCTestCase {
    func options(_ body: String, defaults: DecodingOptions) throws -> DecodingOptions {
        try TranslationRequest(body: Array(body.utf8), defaults: defaults, limits: ServerLimits()).options
    }

    /// A Marian model's server keeps generate()'s search: "beam_size" and "alpha" change
    /// its beams and length penalty, "greedy" its beam count only.
    func testAGenerateDefaultKeepsItsSearchAndSettings() throws {
        let served = GenerateStrategy(beamSize: 4, lengthPenalty: 1, maximumLength: 512, forcesEOSAtMaximumLength: true, bannedIDs: [0])
        let defaults = DecodingOptions(strategy: served)
        var expected = served
        XCTAssertTrue(try options(#"{"text": "a"}"#, defaults: defaults).strategy.isEqual(to: expected))
        expected.beamSize = 2
        expected.lengthPenalty = 0.5
        XCTAssertTrue(try options(#"{"text": "a", "beam_size": 2, "alpha": 0.5}"#, defaults: defaults).strategy.isEqual(to: expected))
        expected = served
        expected.beamSize = 1
        XCTAssertTrue(try options(#"{"text": "a", "mode": "greedy"}"#, defaults: defaults).strategy.isEqual(to: expected))
        XCTAssertTrue(try options(#"{"text": "a", "mode": "sample"}"#, defaults: defaults).strategy is SamplingStrategy)
    }

    func testTheReferenceDefaultKeepsTheReferenceSearch() throws {
        let defaults = DecodingOptions(strategy: BeamSearchStrategy(beamSize: 3, alpha: 0.6))
        XCTAssertTrue(
            try options(#"{"text": "a", "beam_size": 2}"#, defaults: defaults).strategy.isEqual(to: BeamSearchStrategy(beamSize: 2, alpha: 0.6)))
        XCTAssertTrue(try options(#"{"text": "a", "mode": "greedy"}"#, defaults: defaults).strategy is GreedyStrategy)
    }
}
