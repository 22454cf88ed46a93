import Foundation

/// A Marian directory swift-nmt cannot load.
public enum MarianModelError: Error, Equatable, CustomStringConvertible {
    /// A file the directory needs is not there.
    case missingFile(String)
    /// A configuration value swift-nmt does not run, or a file that is not what it should be.
    case unsupported(path: String, reason: String)
    /// A vocabulary file that does not fit the model.
    case invalidVocabulary(path: String, reason: String)
    /// A weight is missing, unexpected, or of the wrong shape.
    case invalidWeights(path: String, reason: String)
    /// An id outside the vocabulary was given to decode.
    case idOutOfRange(Int32, size: Int)

    /// A sentence naming the file and the problem.
    public var description: String {
        switch self {
        case .missingFile(let path): return "Marian model: \(path) is missing"
        case .unsupported(let path, let reason): return "Marian model: \(path) \(reason)"
        case .invalidVocabulary(let path, let reason): return "Marian vocabulary: \(path) \(reason)"
        case .invalidWeights(let path, let reason): return "Marian weights in \(path): \(reason)"
        case .idOutOfRange(let id, let size): return "id \(id) is outside the target vocabulary of \(size) ids"
        }
    }
}
