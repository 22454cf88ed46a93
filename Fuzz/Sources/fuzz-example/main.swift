// Fuzzes the tf.train.Example parser and the translation-example reader.
import Foundation
import NMTData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzExample(_ bytes: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: bytes, count: count)
    _ = try? TFExample.parse(data)
    _ = try? TranslationExample(serialized: data)
    return 0
}
