import Foundation
import SwiftProtobuf

/// The value of one feature of a `tf.train.Example`.
public enum FeatureValue: Equatable, Sendable {
    /// An `Int64List`.
    case int64([Int64])
    /// A `FloatList`.
    case float([Float])
    /// A `BytesList`.
    case bytes([Data])
}

/// Encoding and decoding of `tf.train.Example` records through the generated
/// swift-protobuf messages.
public enum TFExample {
    /// The serialized Example holding `features`.
    ///
    /// Map entries are written in sorted key order, as TensorFlow's
    /// `SerializeToString(deterministic=True)`, so equal features give equal bytes.
    public static func serialize(_ features: [String: FeatureValue]) -> Data {
        var example = Tensorflow_Example()
        for (name, value) in features {
            var feature = Tensorflow_Feature()
            switch value {
            case .int64(let values): feature.int64List.value = values
            case .float(let values): feature.floatList.value = values
            case .bytes(let values): feature.bytesList.value = values
            }
            example.features.feature[name] = feature
        }
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        // Serializing a message built from valid Swift values cannot fail.
        return (try? example.serializedData(options: options)) ?? Data()
    }

    /// The features of a serialized Example.
    ///
    /// - Throws: ``TFExampleError/malformed(reason:)`` when the bytes are not an Example.
    public static func parse(_ data: Data) throws(TFExampleError) -> [String: FeatureValue] {
        let example: Tensorflow_Example
        do { example = try Tensorflow_Example(serializedBytes: data) } catch {
            throw .malformed(reason: "\(error)")
        }
        var result: [String: FeatureValue] = [:]
        for (name, feature) in example.features.feature {
            switch feature.kind {
            case .int64List(let list): result[name] = .int64(list.value)
            case .floatList(let list): result[name] = .float(list.value)
            case .bytesList(let list): result[name] = .bytes(list.value)
            case nil: result[name] = .int64([])
            }
        }
        return result
    }
}

/// One sentence pair as the reference stores it: int64 features `inputs` and `targets`
/// (subtoken ids, EOS appended).
public struct TranslationExample: Equatable, Sendable {
    /// Source ids.
    public var inputs: [Int32]
    /// Target ids.
    public var targets: [Int32]

    /// Creates a pair.
    public init(inputs: [Int32], targets: [Int32]) {
        self.inputs = inputs
        self.targets = targets
    }

    /// The serialized `tf.train.Example`.
    public var serialized: Data {
        TFExample.serialize(["inputs": .int64(inputs.map(Int64.init)), "targets": .int64(targets.map(Int64.init))])
    }

    /// Parses a serialized `tf.train.Example`.
    ///
    /// - Throws: ``TFExampleError`` when the record is not an Example, lacks an int64
    ///   `inputs` or `targets` feature, or holds an id outside Int32.
    public init(serialized data: Data) throws(TFExampleError) {
        let features = try TFExample.parse(data)
        func ids(_ name: String) throws(TFExampleError) -> [Int32] {
            guard case .int64(let values)? = features[name] else { throw .missingFeature(name) }
            var result: [Int32] = []
            result.reserveCapacity(values.count)
            for v in values {
                guard let id = Int32(exactly: v) else { throw .idOutOfRange(feature: name, value: v) }
                result.append(id)
            }
            return result
        }
        inputs = try ids("inputs")
        targets = try ids("targets")
    }
}

/// A record that is not a usable Example.
public enum TFExampleError: Error, Equatable, CustomStringConvertible {
    /// The bytes do not parse as a `tf.train.Example`.
    case malformed(reason: String)
    /// The Example lacks an int64 feature of this name.
    case missingFeature(String)
    /// An id does not fit in Int32.
    case idOutOfRange(feature: String, value: Int64)

    /// A sentence saying what is wrong.
    public var description: String {
        switch self {
        case .malformed(let reason): return "record is not a tf.train.Example: \(reason)"
        case .missingFeature(let name): return "Example has no int64 feature '\(name)'"
        case .idOutOfRange(let feature, let value): return "feature '\(feature)' holds \(value), outside Int32"
        }
    }
}
