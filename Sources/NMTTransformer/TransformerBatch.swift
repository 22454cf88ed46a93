import NMTLayers
import NMTTensor

/// A batch of source and target ids, checked against a vocabulary before it reaches the
/// model (whose preconditions would otherwise trap on bad ids).
public struct TransformerBatch: TapeAttachable, Sendable {
    /// Source ids [B, S], 0-padded, EOS included.
    public var inputs: IndexTensor
    /// Target ids [B, T], 0-padded, EOS included.
    public var targets: IndexTensor

    /// Checks and wraps a batch.
    ///
    /// - Throws: ``BatchError`` when a tensor is not [B, L] with L ≥ 1, the batch sizes
    ///   differ, or an id is outside `0..<vocabularySize` (naming the tensor, position and id).
    public init(inputs: IndexTensor, targets: IndexTensor, vocabularySize: Int) throws(BatchError) {
        for (name, ids) in [("inputs", inputs), ("targets", targets)] {
            guard ids.shape.count == 2, ids.shape[1] >= 1 else { throw .badShape(name: name, shape: ids.shape) }
            let values = ids.scalars
            if let bad = values.firstIndex(where: { $0 < 0 || Int($0) >= vocabularySize }) {
                throw .idOutOfRange(
                    name: name, row: bad / ids.shape[1], column: bad % ids.shape[1], id: values[bad],
                    vocabularySize: vocabularySize)
            }
        }
        guard inputs.shape[0] == targets.shape[0] else {
            throw .batchSizeMismatch(inputs: inputs.shape[0], targets: targets.shape[0])
        }
        self.inputs = inputs
        self.targets = targets
    }

    /// Wraps ids already known to be valid (rows of a checked batch).
    package init(unchecked inputs: IndexTensor, targets: IndexTensor) {
        self.inputs = inputs
        self.targets = targets
    }

    /// The batch joined to a tape (for kernel recording).
    public func attached(to tape: GradientTape) -> TransformerBatch {
        TransformerBatch(unchecked: inputs.attached(to: tape), targets: targets.attached(to: tape))
    }
}

/// Ids that cannot be fed to a model.
public enum BatchError: Error, Equatable, CustomStringConvertible {
    /// A tensor is not [B, L] with L ≥ 1.
    case badShape(name: String, shape: [Int])
    /// An id is negative or not below the vocabulary size.
    case idOutOfRange(name: String, row: Int, column: Int, id: Int32, vocabularySize: Int)
    /// Inputs and targets hold different numbers of sentences.
    case batchSizeMismatch(inputs: Int, targets: Int)

    /// A sentence naming the problem and where it is.
    public var description: String {
        switch self {
        case .badShape(let name, let shape): return "\(name) must be [batch, length] with length >= 1, got \(shape)"
        case .idOutOfRange(let name, let row, let column, let id, let size):
            return "\(name)[\(row), \(column)] is id \(id), outside the vocabulary of \(size) ids; "
                + "was the data encoded with a different vocabulary?"
        case .batchSizeMismatch(let inputs, let targets):
            return "inputs hold \(inputs) sentences but targets hold \(targets)"
        }
    }
}

extension Transformer {
    /// The training loss of a checked batch.
    public func loss(_ batch: TransformerBatch, context: ForwardContext) -> Tensor {
        loss(inputs: batch.inputs, targets: batch.targets, context: context)
    }
}
