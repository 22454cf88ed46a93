// Fuzzes the safetensors reader (header JSON, shapes, offsets).
import Foundation
import NMTTensor

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ bytes: UnsafeRawPointer, _ count: Int) -> CInt {
    _ = try? SafeTensors.read(Data(bytes: bytes, count: count), path: "fuzz.safetensors")
    return 0
}
