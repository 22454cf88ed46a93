/// The body of a `POST /translate` answer: `{"translation": "..."}` for a request with
/// `"text"`, `{"translations": [...]}` for one with `"texts"`.
public struct TranslationResponse: Encodable, Sendable, Equatable {
    /// The translations, in the request's order.
    public var translations: [String]
    /// Whether the request gave one `"text"`.
    public var isSingle: Bool

    /// Creates a response.
    public init(translations: [String], isSingle: Bool) {
        precondition(!isSingle || translations.count == 1, "TranslationResponse: one text, \(translations.count) translations")
        self.translations = translations
        self.isSingle = isSingle
    }

    private enum CodingKeys: String, CodingKey {
        case translation, translations
    }

    /// Writes `"translation"` or `"translations"`, as the request asked.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if isSingle { try container.encode(translations[0], forKey: .translation) } else {
            try container.encode(translations, forKey: .translations)
        }
    }
}

/// The body of a `GET /health` answer.
public struct HealthResponse: Encodable, Sendable, Equatable {
    /// "ok" while the server serves.
    public var status = "ok"
    /// Subtokens of the model's vocabulary.
    public var vocabularySize: Int
    /// Sentences waiting or decoding.
    public var queuedSentences: Int

    /// Creates a response.
    public init(vocabularySize: Int, queuedSentences: Int) {
        self.vocabularySize = vocabularySize
        self.queuedSentences = queuedSentences
    }

    private enum CodingKeys: String, CodingKey {
        case status
        case vocabularySize = "vocabulary_size"
        case queuedSentences = "queued_sentences"
    }
}

/// The body of every refused or failed request: `{"error": "..."}`.
public struct ErrorResponse: Encodable, Sendable, Equatable {
    /// What was wrong, in a sentence.
    public var error: String

    /// Creates a response.
    public init(error: String) { self.error = error }
}
