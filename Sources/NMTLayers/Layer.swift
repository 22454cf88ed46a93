import NMTTensor

/// A building block of a model: it owns named parameters (`ParameterContainer`)
/// and computes an output from an input in a ``ForwardContext``.
///
/// Parameter names are relative to the layer (`kernel`, `query.kernel`); a container
/// prefixes its children's names with their field names, giving stable dotted paths such
/// as `encoder.layers.0.selfAttention.query.kernel`.
public protocol Layer: ParameterContainer {
    /// What the layer consumes.
    associatedtype Input
    /// What the layer produces.
    associatedtype Output
    /// Applies the layer.
    func callAsFunction(_ input: Input, context: ForwardContext) -> Output
}

extension ParameterContainer {
    /// Visits the parameters of `child` with names prefixed by `prefix` and a dot; the
    /// building block of `ParameterContainer.visitParameters(_:)` in containers.
    public static func visit<Child: ParameterContainer>(
        _ child: inout Child, prefix: String, _ body: (String, inout Tensor) throws -> Void
    ) rethrows {
        try child.visitParameters { name, tensor in try body(prefix + "." + name, &tensor) }
    }

    /// Replaces every parameter named in `values` (by its full name), checking shapes.
    ///
    /// - Throws: ``ParameterError`` when a name is unknown, a parameter is missing from
    ///   `values` (unless `allowMissing`), or a shape differs.
    public mutating func load(_ values: [String: Tensor], allowMissing: Bool = false) throws(ParameterError) {
        var unused = Set(values.keys)
        var failure: ParameterError?
        visitParameters { name, tensor in
            guard failure == nil else { return }
            guard let value = values[name] else {
                if !allowMissing { failure = .missing(name) }
                return
            }
            unused.remove(name)
            guard value.shape == tensor.shape else {
                failure = .shapeMismatch(name: name, expected: tensor.shape, actual: value.shape)
                return
            }
            tensor = value
        }
        if let failure { throw failure }
        if let name = unused.sorted().first { throw .unknown(name) }
    }
}

/// A problem with parameter values given to a model.
public enum ParameterError: Error, Equatable, CustomStringConvertible {
    /// The model has a parameter the values lack.
    case missing(String)
    /// The values name a parameter the model does not have.
    case unknown(String)
    /// A value's shape differs from the parameter's.
    case shapeMismatch(name: String, expected: [Int], actual: [Int])

    /// A sentence saying what is wrong.
    public var description: String {
        switch self {
        case .missing(let name): return "no value given for parameter '\(name)'"
        case .unknown(let name): return "value given for '\(name)', which the model does not have"
        case .shapeMismatch(let name, let expected, let actual):
            return "parameter '\(name)' has shape \(expected) but the value has shape \(actual)"
        }
    }
}
