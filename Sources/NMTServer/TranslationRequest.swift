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

    /// The fields a body may have, typed; JSONDecoder refuses a field of another type.
    private struct Body: Decodable {
        var text: String?
        var texts: [String]?
        var mode: String?
        var beam_size: Int?
        var alpha: Float?
        var temperature: Float?
        var top_k: Int?
        var top_p: Float?
        var seed: UInt64?
    }

    /// What each field must be, for error messages.
    private static let fieldTypes = [
        "text": "a string", "texts": "an array of strings", "mode": "\"beam\", \"greedy\" or \"sample\"",
        "beam_size": "an integer", "alpha": "a number", "temperature": "a number", "top_k": "an integer",
        "top_p": "a number", "seed": "a non-negative integer",
    ]

    /// Parses and checks a body.
    ///
    /// - Throws: ``RequestError`` saying what is wrong: invalid UTF-8, not JSON, a field of
    ///   the wrong type, no text, an empty text, an unknown field, or past a limit.
    public init(body: [UInt8], defaults: DecodingOptions, limits: ServerLimits) throws(RequestError) {
        guard String(validating: body, as: UTF8.self) != nil else { throw .badRequest("the body is not valid UTF-8") }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) else {
            throw .badRequest("the body is not valid JSON")
        }
        guard let fields = object as? [String: Any] else { throw .badRequest("the body must be a JSON object") }
        if let unknown = fields.keys.sorted().first(where: { Self.fieldTypes[$0] == nil }) {
            throw .badRequest("unknown field \"\(unknown)\"")
        }
        let parsed: Body
        do {
            parsed = try JSONDecoder().decode(Body.self, from: Data(body))
        } catch let error as DecodingError {
            let field: String? = {
                switch error {
                case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
                    return context.codingPath.first?.stringValue
                case .keyNotFound(let key, _): return key.stringValue
                @unknown default: return nil
                }
            }()
            // JSONDecoder reports a number that does not fit an integer field (2.5, -1 for the
            // seed) as invalid JSON without naming the field; the body parsed, so find it.
            let integers = ["beam_size", "top_k", "seed"].filter { fields[$0] != nil }
            guard let field = field ?? integers.first(where: { Self.notAnInteger(fields[$0]!, unsigned: $0 == "seed") }),
                let type = Self.fieldTypes[field]
            else { throw .badRequest("the body is not valid JSON") }
            throw .badRequest("\"\(field)\" must be \(type)")
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
        if let beam = body.beam_size, !(1...limits.maximumBeamSize).contains(beam) {
            throw .badRequest("\"beam_size\" is \(beam); must be in 1...\(limits.maximumBeamSize) (this server's limit)")
        }
        if let alpha = body.alpha, !(0...maximumAlpha).contains(alpha) {
            throw .badRequest("\"alpha\" is \(alpha); must be in 0...\(Int(maximumAlpha))")
        }
        if let temperature = body.temperature, !(temperature > 0 && temperature <= maximumTemperature) {
            throw .badRequest("\"temperature\" is \(temperature); must be more than 0 and at most \(Int(maximumTemperature))")
        }
        if let k = body.top_k, !(1...maximumTopK).contains(k) {
            throw .badRequest("\"top_k\" is \(k); must be in 1...\(maximumTopK)")
        }
        if let p = body.top_p, !(p > 0 && p <= 1) { throw .badRequest("\"top_p\" is \(p); must be more than 0 and at most 1") }
    }

    /// Whether a parsed JSON value is not an integer of the field's type (Int, or UInt64 when
    /// `unsigned`): a fraction, a negative seed, or a number past the type's range.
    private static func notAnInteger(_ value: Any, unsigned: Bool) -> Bool {
        guard let number = value as? NSNumber else { return true }
        let double = number.doubleValue
        return unsigned ? UInt64(exactly: double) == nil : Int(exactly: double) == nil
    }

    private static func options(_ body: Body, defaults: DecodingOptions) throws(RequestError) -> DecodingOptions {
        var options = defaults
        let beamFields = body.beam_size != nil || body.alpha != nil
        let samplingFields = body.temperature != nil || body.top_k != nil || body.top_p != nil || body.seed != nil
        switch body.mode ?? "beam" {
        case "beam":
            // The server's own beam settings where it has some, the reference's otherwise.
            let beam = defaults.strategy as? BeamSearchStrategy ?? BeamSearchStrategy()
            options.strategy = BeamSearchStrategy(beamSize: body.beam_size ?? beam.beamSize, alpha: body.alpha ?? beam.alpha)
            if samplingFields { throw .badRequest("\"temperature\", \"top_k\", \"top_p\" and \"seed\" apply to \"mode\": \"sample\" only") }
        case "greedy":
            options.strategy = GreedyStrategy()
            if beamFields || samplingFields { throw .badRequest("\"mode\": \"greedy\" takes no search settings") }
        case "sample":
            options.strategy = SamplingStrategy(
                temperature: body.temperature ?? 1, topK: body.top_k, topP: body.top_p, seed: body.seed ?? 0)
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
