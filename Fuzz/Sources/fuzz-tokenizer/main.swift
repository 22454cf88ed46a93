// Fuzzes encoding and decoding with a real vocabulary (the Ding 8k one from the tests):
// any text must encode and decode back to itself; any ids must decode without trapping.
import Foundation
import NMTData

let tokenizer: Subtokenizer = {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../Tests/NMTDataTests/Fixtures/vocab.ding.8k").standardizedFileURL
    return try! Subtokenizer(vocabularyFile: path)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ bytes: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: bytes, count: count)
    if let text = String(data: data, encoding: .utf8), let ids = try? tokenizer.encode(text, addEOS: false) {
        // The reference's tokenizer is invertible for any text.
        precondition(tokenizer.decode(ids) == text, "round trip failed for \(text.debugDescription)")
    }
    let ids = data.withUnsafeBytes { raw in (0..<(count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self) } }
    _ = tokenizer.decode(ids)
    return 0
}
