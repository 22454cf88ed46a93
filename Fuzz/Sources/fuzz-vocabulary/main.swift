// Fuzzes the vocabulary loader, and encoding and decoding with what it loads.
import Foundation
import NMTData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVocabulary(_ bytes: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let tokenizer = try? Subtokenizer(vocabularyData: Data(bytes: bytes, count: count), path: "fuzz.vocab") else {
        return 0
    }
    if let ids = try? tokenizer.encode("Where is the station? Wo ist der Bahnhof? 123", addEOS: true) {
        _ = tokenizer.decode(ids)
    }
    return 0
}
