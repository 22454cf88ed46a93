import Foundation
import NMTData
import NMTInterop
import NMTLayers
import NMTSchedule
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// `nmt-export --format ctranslate2`, read back here: the variables CTranslate2's
/// TransformerSpec needs, with the weights where they belong. (That CTranslate2 translates
/// with them as swift-nmt does is checked by Scripts/reference/ctranslate2_export_check.py.)
final class CTranslate2ExportTests: XCTestCase {
    /// model.bin parsed: variables by name (shape, type id, bytes) and aliases.
    struct ModelFile {
        var variables: [String: (shape: [Int], type: UInt8, bytes: Data)] = [:]
        var aliases: [String: String] = [:]

        init(_ data: Data) throws {
            var position = 0
            func take(_ count: Int) throws -> Data {
                guard position + count <= data.count else { throw CocoaError(.fileReadCorruptFile) }
                defer { position += count }
                return data.subdata(in: position..<(position + count))
            }
            func u32() throws -> Int { Int(try take(4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }) }
            func string() throws -> String {
                let length = Int(try take(2).withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) })
                return String(decoding: try take(length).dropLast(), as: UTF8.self)
            }
            XCTAssertEqual(try u32(), 6, "binary version")
            XCTAssertEqual(try string(), "TransformerSpec")
            XCTAssertEqual(try u32(), 7, "spec revision")
            for _ in 0..<(try u32()) {
                let name = try string()
                let rank = Int(try take(1)[0])
                let shape = try (0..<rank).map { _ in try u32() }
                let type = try take(1)[0]
                variables[name] = (shape, type, try take(try u32()))
            }
            for _ in 0..<(try u32()) { aliases[try string()] = try string() }
            XCTAssertEqual(position, data.count, "nothing after the aliases")
        }

        func floats(_ name: String) -> [Float] {
            guard let variable = variables[name] else { return [] }
            return variable.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
    }

    func testOurModelMapsToTheSpec() throws {
        let directory = try temporaryDirectory(for: self, prefix: "nmt-ct2")
        let vocabulary = directory.appendingPathComponent("vocab.txt")
        try Data("'<pad>'\n'<EOS>'\n'a_'\n'b_'\n'c_'\n'a'\n'b'\n'c'\n'_'\n".utf8).write(to: vocabulary)
        let configuration = TransformerConfiguration(vocabularySize: 9, hiddenSize: 8, layerCount: 2, headCount: 2, filterSize: 12)
        let model = try Transformer(configuration: configuration, key: RandomKey(seed: 4))
        let saved = directory.appendingPathComponent("model")
        try model.save(to: saved)
        let output = directory.appendingPathComponent("ct2")
        try ModelExport.exportCTranslate2(modelDirectory: saved, vocabulary: vocabulary, positions: 16, to: output)
        let file = try ModelFile(Data(contentsOf: output.appendingPathComponent("model.bin")))

        let layer = model.encoder.layers[1].selfAttention
        let fused = [layer.query, layer.key, layer.value].flatMap { $0.kernel.transposed().scalars }
        XCTAssertEqual(file.variables["encoder/layer_1/self_attention/linear_0/weight"]?.shape, [24, 8])
        XCTAssertEqual(file.floats("encoder/layer_1/self_attention/linear_0/weight"), fused)
        let cross = model.decoder.layers[0].encoderDecoderAttention
        XCTAssertEqual(file.floats("decoder/layer_0/attention/linear_1/weight"), [cross.key, cross.value].flatMap { $0.kernel.transposed().scalars })
        XCTAssertEqual(file.floats("decoder/layer_0/ffn/linear_0/bias"), model.decoder.layers[0].feedForward.filter.bias!.scalars)
        XCTAssertEqual(file.floats("decoder/layer_norm/gamma"), model.decoder.outputNorm!.scale.scalars)
        // Padding embeds to zero on input; the output projection keeps its row.
        let embedding = model.embedding.weights.scalars
        XCTAssertEqual(file.floats("decoder/embeddings/weight"), [Float](repeating: 0, count: 8) + embedding.dropFirst(8))
        XCTAssertEqual(file.floats("decoder/projection/weight"), embedding)
        XCTAssertEqual(file.floats("decoder/position_encodings/encodings"), model.positionTable(length: 16).scalars)
        XCTAssertEqual(file.aliases["encoder/embeddings_0/weight"], "decoder/embeddings/weight")
        XCTAssertNil(file.variables["decoder/projection/bias"])
        XCTAssertEqual(file.variables["decoder/start_from_zero_embedding"]?.bytes, Data([1]))
        XCTAssertEqual(file.variables["encoder/pre_norm"]?.bytes, Data([1]))
        XCTAssertEqual(file.variables["encoder/activation"]?.bytes, Data([0]))
        XCTAssertEqual(file.variables["decoder/num_heads"]?.bytes, Data([2, 0]))

        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("config.json"))) as? [String: Any])
        XCTAssertEqual(config["layer_norm_epsilon"] as? Double ?? 0, 1e-6, accuracy: 1e-12)
        XCTAssertEqual(config["unk_token"] as? String, "<pad>", "no unknown token: CTranslate2 must not add one")
        XCTAssertEqual(config["eos_token"] as? String, "<EOS>")
        let tokens = try JSONDecoder().decode([String].self, from: Data(contentsOf: output.appendingPathComponent("shared_vocabulary.json")))
        XCTAssertEqual(tokens.count, 9)
        XCTAssertEqual(Array(tokens.prefix(2)), ["<pad>", "<EOS>"])
    }

    /// A Marian directory's weights come out in its own id order, bit for bit the
    /// safetensors file's rows, with its biases, post-norm and separate tables.
    func testAMarianModelComesOutInItsOwnIdOrder() throws {
        let fixture = try MarianParityTests.directory("swish-tied")
        let output = try temporaryDirectory(for: self, prefix: "nmt-ct2-marian").appendingPathComponent("ct2")
        try ModelExport.exportCTranslate2(modelDirectory: fixture, vocabulary: nil, to: output)
        let file = try ModelFile(Data(contentsOf: output.appendingPathComponent("model.bin")))
        let original = try SafeTensors.read(from: fixture.appendingPathComponent("model.safetensors")).tensors
        XCTAssertEqual(file.floats("decoder/embeddings/weight"), original["model.shared.weight"]!.scalars)
        XCTAssertEqual(file.floats("decoder/projection/bias"), original["final_logits_bias"]!.scalars)
        XCTAssertEqual(
            file.floats("encoder/layer_2/self_attention/linear_0/bias"),
            ["q", "k", "v"].flatMap { original["model.encoder.layers.2.self_attn.\($0)_proj.bias"]!.scalars })
        XCTAssertEqual(file.floats("decoder/layer_1/ffn/linear_1/weight"), original["model.decoder.layers.1.fc2.weight"]!.scalars)
        XCTAssertNil(file.variables["encoder/layer_norm/gamma"], "post-norm: no final norm")
        XCTAssertEqual(file.variables["encoder/activation"]?.bytes, Data([2]), "swish")
        XCTAssertEqual(file.variables["decoder/start_from_zero_embedding"]?.bytes, Data([0]))
        XCTAssertEqual(file.variables["decoder/position_encodings/encodings"]?.shape, [128, 32], "max_position_embeddings rows")
        let tokens = try JSONDecoder().decode([String].self, from: Data(contentsOf: output.appendingPathComponent("shared_vocabulary.json")))
        let vocab = try JSONDecoder().decode([String: Int].self, from: Data(contentsOf: fixture.appendingPathComponent("vocab.json")))
        XCTAssertEqual(tokens.count, vocab.count)
        for (piece, id) in vocab { XCTAssertEqual(tokens[id], piece) }
    }
}
