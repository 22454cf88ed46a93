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
        options = try Self.options(parsed, defaults: defaults)
        if let problem = options.problem { throw .badRequest(problem) }
    }

    /// Whether a parsed JSON value is not an integer (or is negative, when `unsigned`).
    private static func notAnInteger(_ value: Any, unsigned: Bool) -> Bool {
        guard let number = value as? NSNumber else { return true }
        let double = number.doubleValue
        return double != double.rounded() || (unsigned && double < 0)
    }

    private static func options(_ body: Body, defaults: DecodingOptions) throws(RequestError) -> DecodingOptions {
        var options = defaults
        let beamFields = body.beam_size != nil || body.alpha != nil
        let samplingFields = body.temperature != nil || body.top_k != nil || body.top_p != nil || body.seed != nil
        switch body.mode ?? "beam" {
        case "beam":
            var (beamSize, alpha) = (4, Float(0.6))
            if case .beamSearch(let b, let a) = defaults.strategy { (beamSize, alpha) = (b, a) }
            options.strategy = .beamSearch(beamSize: body.beam_size ?? beamSize, alpha: body.alpha ?? alpha)
            if samplingFields { throw .badRequest("\"temperature\", \"top_k\", \"top_p\" and \"seed\" apply to \"mode\": \"sample\" only") }
        case "greedy":
            options.strategy = .greedy
            if beamFields || samplingFields { throw .badRequest("\"mode\": \"greedy\" takes no search settings") }
        case "sample":
            options.strategy = .sampling(
                .init(temperature: body.temperature ?? 1, topK: body.top_k, topP: body.top_p, seed: body.seed ?? 0))
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
