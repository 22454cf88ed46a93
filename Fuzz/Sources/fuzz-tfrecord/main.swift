// Fuzzes the TFRecord reader: any bytes must read as records or throw, never trap.
import Foundation
import NMTData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTFRecord(_ bytes: UnsafeRawPointer, _ count: Int) -> CInt {
    let reader = TFRecordReader(data: Data(bytes: bytes, count: count), url: URL(fileURLWithPath: "fuzz.tfrecord"))
    var records = reader.makeIterator()
    while (try? records.nextRecord()) != nil {}
    let skipping = TFRecordReader(data: Data(bytes: bytes, count: count), url: URL(fileURLWithPath: "fuzz"), skipsCorruptRecords: true)
    for _ in skipping {}
    return 0
}
