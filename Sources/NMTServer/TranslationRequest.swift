import Foundation
import NMTTransformer

/// A `POST /translate` body, checked field by field: `{"text": "..."}` or
/// `{"texts": ["...", ...]}`, with optional `"mode"` (`"beam"`, `"greedy"` or
/// `"sample"`), `"beam_size"`, `"alpha"`, `"temperature"`, `"top_k"`, `"top_p"` and `"seed"`.
public struct TranslationRequest: Sendable, Equatable {
    /// The texts, in order.
    public var texts: [String]
    /// Whether the request gave one `"text"` (the response then has `"translation"`).
    public var isSingle: Bool
    /// The search the request asks for (beam search with the server's defaults otherwise).
    public var options: DecodingOptions

    /// A body's fields, decoded in one pass of `JSONDecoder`: a field it does not know, or
    /// one of the wrong type, is refused with its name.
    private struct Body: Decodable {
        var text: String?
        var texts: [String]?
        var mode: String?
        var beamSize: Int?
        var alpha: Float?
        var temperature: Float?
        var topK: Int?
        var topP: Float?
        var seed: UInt64?

        /// Any field name.
        private struct Field: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Field.self)
            let fields = container.allKeys.sorted { $0.stringValue < $1.stringValue }
            if let unknown = fields.first(where: { TranslationRequest.fieldTypes[$0.stringValue] == nil }) {
                throw RequestError.badRequest("unknown field \"\(unknown.stringValue)\"")
            }
            for field in fields where try !container.decodeNil(forKey: field) {
                do {
                    switch field.stringValue {
                    case "text": text = try container.decode(String.self, forKey: field)
                    case "texts": texts = try container.decode([String].self, forKey: field)
                    case "mode": mode = try container.decode(String.self, forKey: field)
                    case "beam_size": beamSize = try container.decode(Int.self, forKey: field)
                    case "alpha": alpha = try container.decode(Float.self, forKey: field)
                    case "temperature": temperature = try container.decode(Float.self, forKey: field)
                    case "top_k": topK = try container.decode(Int.self, forKey: field)
                    case "top_p": topP = try container.decode(Float.self, forKey: field)
                    default: seed = try container.decode(UInt64.self, forKey: field)
                    }
                } catch {
                    // Any failure to read the value (JSONDecoder reports a number that does
                    // not fit the type, such as 2.5 for an integer, with an error of its own).
                    throw RequestError.badRequest("\"\(field.stringValue)\" must be \(TranslationRequest.fieldTypes[field.stringValue]!)")
                }
            }
        }
    }

    /// What each field must be, for error messages.
    private static let fieldTypes = [
        "text": "a string", "texts": "an array of strings", "mode": "\"beam\", \"greedy\" or \"sample\"",
        "beam_size": "an integer", "alpha": "a number", "temperature": "a number", "top_k": "an integer",
        "top_p": "a number", "seed": "a non-negative integer",
    ]

    /// Parses and checks a body, in one pass.
    ///
    /// - Throws: ``RequestError`` saying what is wrong: invalid UTF-8, not JSON, a field of
    ///   the wrong type, no text, an empty text, an unknown field, or past a limit.
    public init(body: [UInt8], defaults: DecodingOptions, limits: ServerLimits) throws(RequestError) {
        guard String(validating: body, as: UTF8.self) != nil else { throw .badRequest("the body is not valid UTF-8") }
        let parsed: Body
        do {
            parsed = try JSONDecoder().decode(Body.self, from: Data(body))
        } catch let error as RequestError {
            throw error
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            throw .badRequest("the body must be a JSON object")
        } catch {
            throw .badRequest("the body is not valid JSON")
        }
        switch (parsed.text, parsed.texts) {
        case (nil, nil): throw .badRequest("give \"text\" (a string) or \"texts\" (an array of strings)")
        case (.some, .some): throw .badRequest("give \"text\" or \"texts\", not both")
        case (let text?, nil): (texts, isSingle) = ([text], true)
        case (nil, let list?): (texts, isSingle) = (list, false)
        }
        if texts.isEmpty { throw .badRequest("\"texts\" is empty") }
        if texts.count > limits.maximumTexts {
            throw .tooLarge("\(texts.count) texts; at most \(limits.maximumTexts) per request")
        }
        for (i, text) in texts.enumerated() {
            if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw .badRequest("text \(i) is empty") }
            if text.count > limits.maximumTextCharacters {
                throw .tooLarge("text \(i) has \(text.count) characters; at most \(limits.maximumTextCharacters)")
            }
            if text.contains(where: \.isNewline) { throw .badRequest("text \(i) contains a line break; send one sentence per text") }
        }
        try Self.checkRanges(parsed, limits: limits)
        options = try Self.options(parsed, defaults: defaults)
        if let problem = options.problem { throw .badRequest(problem) }
    }

    /// The largest `"alpha"` (10: the length penalty's exponent; past a few it only favours
    /// the longest outputs) and `"temperature"` (100: the distribution is flat long before).
    public static let maximumAlpha: Float = 10, maximumTemperature: Float = 100
    /// The largest `"top_k"` (1,000,000; a k above the vocabulary means the whole vocabulary).
    public static let maximumTopK = 1_000_000

    /// Refuses any search field outside its range, naming the field, before any option is
    /// built from it (a beam of 2⁴⁰ once made the server try to allocate 8 TB).
    private static func checkRanges(_ body: Body, limits: ServerLimits) throws(RequestError) {
        if let beam = body.beamSize, !(1...limits.maximumBeamSize).contains(beam) {
            throw .badRequest("\"beam_size\" is \(beam); must be in 1...\(limits.maximumBeamSize) (this server's limit)")
        }
        if let alpha = body.alpha, !(0...maximumAlpha).contains(alpha) {
            throw .badRequest("\"alpha\" is \(alpha); must be in 0...\(Int(maximumAlpha))")
        }
        if let temperature = body.temperature, !(temperature > 0 && temperature <= maximumTemperature) {
            throw .badRequest("\"temperature\" is \(temperature); must be more than 0 and at most \(Int(maximumTemperature))")
        }
        if let k = body.topK, !(1...maximumTopK).contains(k) {
            throw .badRequest("\"top_k\" is \(k); must be in 1...\(maximumTopK)")
        }
        if let p = body.topP, !(p > 0 && p <= 1) { throw .badRequest("\"top_p\" is \(p); must be more than 0 and at most 1") }
    }

    private static func options(_ body: Body, defaults: DecodingOptions) throws(RequestError) -> DecodingOptions {
        var options = defaults
        let beamFields = body.beamSize != nil || body.alpha != nil
        let samplingFields = body.temperature != nil || body.topK != nil || body.topP != nil || body.seed != nil
        // A model published with generate() settings (Marian) keeps that search; "alpha"
        // is then its length_penalty.
        let generate = defaults.strategy as? GenerateStrategy
        switch body.mode ?? "beam" {
        case "beam":
            if var search = generate {
                search.beamSize = body.beamSize ?? (search.beamSize > 1 ? search.beamSize : BeamSearchStrategy.defaultBeamSize)
                search.lengthPenalty = body.alpha ?? search.lengthPenalty
                options.strategy = search
            } else {
                // The server's own beam settings where it has some, the reference's otherwise.
                let beam = defaults.strategy as? BeamSearchStrategy ?? BeamSearchStrategy()
                options.strategy = BeamSearchStrategy(beamSize: body.beamSize ?? beam.beamSize, alpha: body.alpha ?? beam.alpha)
            }
            if samplingFields { throw .badRequest("\"temperature\", \"top_k\", \"top_p\" and \"seed\" apply to \"mode\": \"sample\" only") }
        case "greedy":
            if var search = generate {
                search.beamSize = 1
                options.strategy = search
            } else {
                options.strategy = GreedyStrategy()
            }
            if beamFields || samplingFields { throw .badRequest("\"mode\": \"greedy\" takes no search settings") }
        case "sample":
            options.strategy = SamplingStrategy(
                temperature: body.temperature ?? 1, topK: body.topK, topP: body.topP, seed: body.seed ?? 0)
            if beamFields { throw .badRequest("\"beam_size\" and \"alpha\" apply to \"mode\": \"beam\" only") }
        default:
            throw .badRequest("\"mode\" must be \(fieldTypes["mode"]!)")
        }
        return options
    }
}

/// Why a request cannot be served; each maps to an HTTP status and a JSON error body.
public enum RequestError: Error, Equatable, CustomStringConvertible {
    /// Malformed or invalid content (400).
    case badRequest(String)
    /// Past a size limit (413).
    case tooLarge(String)
    /// The queue is full (503).
    case overloaded(String)
    /// The translator failed on valid input (500).
    case internalError(String)

    /// The HTTP status code.
    public var statusCode: Int {
        switch self {
        case .badRequest: return 400
        case .tooLarge: return 413
        case .overloaded: return 503
        case .internalError: return 500
        }
    }

    /// The message sent to the client.
    public var description: String {
        switch self {
        case .badRequest(let message), .tooLarge(let message), .overloaded(let message), .internalError(let message):
            return message
        }
    }
}
