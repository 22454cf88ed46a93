import Foundation
import NMTLayers
import NMTTensor

/// A saved model that cannot be loaded.
public struct ModelFileError: Error, CustomStringConvertible {
    /// The file at fault.
    public var path: String
    /// What is wrong.
    public var reason: String

    /// "model file PATH: REASON".
    public var description: String { "model file \(path): \(reason)" }
}

extension Transformer {
    /// The weights file inside a model directory.
    public static let weightsFileName = "model.safetensors"
    /// The configuration file inside a model directory.
    public static let configurationFileName = "configuration.json"

    /// Saves the weights as `model.safetensors` (names as ``namedParameters``) and the
    /// configuration as `configuration.json` in `directory`, creating it if needed.
    ///
    /// The weights open with Python's `safetensors` package (Scripts/reference/check_safetensors.py).
    public func save(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(configuration).write(
            to: directory.appendingPathComponent(Self.configurationFileName), options: .atomic)
        try SafeTensors.write(
            Dictionary(uniqueKeysWithValues: namedParameters.map { ($0.name, $0.tensor) }),
            metadata: ["format": "swift-nmt", "vocabulary_size": String(configuration.vocabularySize)],
            to: directory.appendingPathComponent(Self.weightsFileName))
    }

    /// Loads a model saved by ``save(to:)``.
    ///
    /// - Throws: ``ModelFileError`` naming the file when the configuration is unreadable
    ///   or invalid, or when a weight is missing, unknown or of the wrong shape.
    public static func load(from directory: URL) throws -> Transformer {
        let configurationURL = directory.appendingPathComponent(configurationFileName)
        let weightsURL = directory.appendingPathComponent(weightsFileName)
        let configuration = try loadConfiguration(from: directory)
        var model: Transformer
        do {
            model = try Transformer(configuration: configuration, key: RandomKey(seed: 0))
        } catch {
            throw ModelFileError(path: configurationURL.path, reason: "\(error)")
        }
        let (tensors, _) = try SafeTensors.read(from: weightsURL)
        do {
            try model.load(tensors)
        } catch {
            throw ModelFileError(path: weightsURL.path, reason: "\(error)")
        }
        return model
    }

    /// The configuration of a model saved by ``save(to:)``, without reading its weights.
    ///
    /// - Throws: ``ModelFileError`` naming the file when it is missing or unreadable.
    public static func loadConfiguration(from directory: URL) throws -> TransformerConfiguration {
        let url = directory.appendingPathComponent(configurationFileName)
        do {
            return try JSONDecoder().decode(TransformerConfiguration.self, from: Data(contentsOf: url))
        } catch {
            throw ModelFileError(path: url.path, reason: "cannot be read as a configuration: \(error)")
        }
    }
}
