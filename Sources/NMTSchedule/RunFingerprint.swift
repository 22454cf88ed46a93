import Foundation
import Logging
import NMTAccelerator
import NMTData
import NMTTensor
import NMTTransformer

/// What the processes of a data-parallel run must share, checked when it starts: a
/// process started with another option, vocabulary, data file or checkpoint would train
/// apart from the others, or wait forever for a message they never send.
struct RunFingerprint {
    /// Field name → value, as text.
    var fields: [String: String] = [:]

    /// The fingerprint of a run about to start (or resume) at `step` with `model`.
    init(
        options: TrainingOptions, configuration: TransformerConfiguration, vocabularyHash: String, dataFiles: [URL],
        step: Int, model: Transformer
    ) throws {
        // Paths may differ between hosts (other mount points); the contents may not.
        var comparable = options
        let anywhere = URL(fileURLWithPath: "/")
        comparable.dataDirectory = anywhere
        comparable.modelDirectory = anywhere
        comparable.vocabularyFile = anywhere
        comparable.bleuSource = comparable.bleuSource.map { _ in anywhere }
        comparable.bleuReference = comparable.bleuReference.map { _ in anywhere }
        try add(comparable, prefix: "option ")
        try add(configuration, prefix: "model ")
        fields["vocabulary (CRC32C)"] = vocabularyHash
        for file in dataFiles { fields["data file \(file.lastPathComponent)"] = try Self.describe(file) }
        // Ranks given other BLEU files would pick the best checkpoint by whichever scored.
        if let source = options.bleuSource { fields["BLEU source (--bleu-source)"] = try Self.describe(source) }
        if let reference = options.bleuReference { fields["BLEU reference (--bleu-ref)"] = try Self.describe(reference) }
        fields["step"] = String(step)
        fields["weights (FNV-1a of every bit)"] = Self.checksum(of: model)
    }

    /// Adds every top-level field of `value`'s JSON form.
    private mutating func add<Value: Encodable>(_ value: Value, prefix: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let object = try JSONSerialization.jsonObject(with: encoder.encode(value)) as? [String: Any] ?? [:]
        for (key, field) in object {
            let text = (try? JSONSerialization.data(withJSONObject: field, options: [.sortedKeys, .fragmentsAllowed]))
                .map { String(decoding: $0, as: UTF8.self) } ?? "\(field)"
            fields[prefix + key] = text
        }
    }

    /// A file's size and the CRC32C of all its bytes (every byte counts: two preparations
    /// of the data that differ only in the middle of a shard must not pass as one).
    static func describe(_ file: URL) throws -> String {
        let (crc, size) = try CRC32C.checksum(ofFile: file)
        return "\(size) bytes, CRC32C \(String(format: "%08x", crc))"
    }

    /// FNV-1a over the bits of every parameter, in the model's order.
    static func checksum(of model: Transformer) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (_, tensor) in model.namedParameters {
            tensor.withUnsafeBufferPointer { values in
                for value in values { hash = (hash ^ UInt64(value.bitPattern)) &* 0x100_0000_01b3 }
            }
        }
        return String(format: "%016llx", hash)
    }

    /// Checks that every process of `group` has this fingerprint.
    ///
    /// - Throws: `ProcessGroupError.mismatch`
    ///   on every process, naming the first field that differs and the ranks that differ.
    func requireAgreement(in group: ProcessGroup) throws { try group.requireAgreement(on: fields) }
}

extension Trainer {
    /// The files every process reads: the training and dev shards.
    func dataFiles() throws -> [URL] {
        let options = DatasetOptions(batchTokens: self.options.batchTokens, maxLength: self.options.maxLength)
        return try ["*train*", "*dev*"].flatMap { pattern in
            try TranslationDataset(filePattern: filePattern(pattern), options: options).files
        }
    }
}
