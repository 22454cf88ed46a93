import Foundation

/// Reading and writing the safetensors format (the Hugging Face `safetensors` package's
/// files): an 8-byte little-endian header length N, N bytes of JSON
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`
/// padded with spaces to a multiple of 8, then the raw little-endian data.
public enum SafeTensors {
    /// Writes float32 tensors and string metadata to `url` (atomically: a temporary file
    /// renamed into place).
    ///
    /// Tensors are stored in ascending name order, contiguously, as the format requires.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        var header: [String: Any] = [:]
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let tensor = tensors[name]!
            let bytes = tensor.scalarCount * 4
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var file = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        for name in names {
            // Float32 is stored little-endian: the in-memory layout on every platform we run.
            tensors[name]!.withUnsafeBufferPointer { file.append(UnsafeBufferPointer(start: $0.baseAddress, count: $0.count)) }
        }
        try file.write(to: url, options: .atomic)
    }

    /// The tensors and metadata of a safetensors file.
    ///
    /// - Throws: ``SafeTensorsError`` naming the file and what is wrong (truncated file,
    ///   malformed header, a dtype other than F32, offsets outside the data, a shape that
    ///   does not match its byte range).
    public static func read(from url: URL) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let file: Data
        do { file = try Data(contentsOf: url) } catch {
            throw SafeTensorsError(path: url.path, reason: "cannot be read: \(error.localizedDescription)")
        }
        return try read(file, path: url.path)
    }

    /// The tensors and metadata of the bytes of a safetensors file; `path` names it in errors.
    ///
    /// - Throws: ``SafeTensorsError`` as ``read(from:)``.
    public static func read(_ file: Data, path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        guard file.count >= 8 else { throw SafeTensorsError(path: path, reason: "is \(file.count) bytes, shorter than the 8-byte header length") }
        let headerLength = file.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(file.count - 8) else {
            throw SafeTensorsError(path: path, reason: "header length \(headerLength) exceeds the file (\(file.count) bytes)")
        }
        let dataStart = 8 + Int(headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: file.subdata(in: 8..<dataStart)) as? [String: Any] else {
            throw SafeTensorsError(path: path, reason: "header is not a JSON object")
        }
        let dataLength = file.count - dataStart
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = value as? [String: String] ?? [:]
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw SafeTensorsError(path: path, reason: "entry '\(name)' lacks dtype, shape or data_offsets") }
            guard dtype == "F32" else { throw SafeTensorsError(path: path, reason: "tensor '\(name)' has dtype \(dtype); only F32 is supported") }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataLength else {
                throw SafeTensorsError(path: path, reason: "tensor '\(name)' has offsets \(offsets) outside the \(dataLength) data bytes")
            }
            // Counted with overflow checks: a hostile shape must not trap.
            var count = 1
            for dimension in shape + [MemoryLayout<Float>.size] {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard !overflow else {
                    throw SafeTensorsError(path: path, reason: "tensor '\(name)' has shape \(shape), too many elements to address")
                }
                count = product
            }
            count /= MemoryLayout<Float>.size
            guard offsets[1] - offsets[0] == count * 4 else {
                throw SafeTensorsError(path: path, reason: "tensor '\(name)' of shape \(shape) needs \(count * 4) bytes, has \(offsets[1] - offsets[0])")
            }
            var scalars = [Float](repeating: 0, count: count)
            scalars.withUnsafeMutableBytes { target in
                _ = file.copyBytes(to: target, from: (dataStart + offsets[0])..<(dataStart + offsets[1]))
            }
            tensors[name] = Tensor(shape: shape, scalars: scalars)
        }
        return (tensors, metadata)
    }
}

/// A safetensors file that cannot be read.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    /// The file.
    public var path: String
    /// What is wrong with it.
    public var reason: String

    /// "safetensors file PATH REASON".
    public var description: String { "safetensors file \(path) \(reason)" }
}
