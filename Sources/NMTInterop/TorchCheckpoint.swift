import Foundation
import NMTData
import NMTTensor
import ZIPFoundation

/// Reads the weights of a PyTorch `pytorch_model.bin` (the zip format `torch.save` has
/// written since PyTorch 1.6: `<name>/data.pkl`, the pickled state dict, and
/// `<name>/data/<key>`, one raw little-endian file per storage) without Python and
/// without running anything the file names: the pickle goes through
/// a restricted unpickler written here, which accepts only a state dict's globals.
///
/// Float32 tensors are read as they are; float16, bfloat16 and float64 ones are converted
/// to float32; integer tensors (buffers such as position ids) are skipped.
public enum TorchCheckpoint {
    /// The float tensors of the state dict in `url`, by name.
    ///
    /// - Throws: ``TorchCheckpointError``: not a zip (or the pre-1.6 format), no
    ///   `data.pkl`, a global outside the allowed few (named, before any weight is read),
    ///   a malformed pickle, or a storage missing or too small for its tensor.
    public static func read(from url: URL) throws(TorchCheckpointError) -> [String: Tensor] {
        let archive: Archive
        do { archive = try Archive(url: url, accessMode: .read) } catch {
            if let head = try? FileHandle(forReadingFrom: url).read(upToCount: 2), head.first == 0x80 {
                throw .malformed(path: url.path, reason: "is in PyTorch's format from before 1.6 (a bare pickle); re-save it with torch.save from PyTorch 1.6 or later")
            }
            throw .malformed(path: url.path, reason: "is not a zip archive (\(error))")
        }
        guard let pickleEntry = archive.first(where: { $0.path == "data.pkl" || $0.path.hasSuffix("/data.pkl") }) else {
            throw .malformed(path: url.path, reason: "has no data.pkl entry")
        }
        let prefix = String(pickleEntry.path.dropLast("data.pkl".count))
        if let order = archive[prefix + "byteorder"], let text = String(data: try extract(order, from: archive, path: url.path), encoding: .utf8),
            text != "little"
        {
            throw .malformed(path: url.path, reason: "stores its tensors \(text)-endian; only little-endian files are read")
        }
        var unpickler = RestrictedUnpickler(bytes: [UInt8](try extract(pickleEntry, from: archive, path: url.path)), path: url.path)
        guard case .dict(let items) = try unpickler.run() else {
            throw .malformed(path: url.path, reason: "holds something other than a state dict (a dict of tensors)")
        }
        var storages: [String: Data] = [:]
        var tensors: [String: Tensor] = [:]
        for (key, value) in items {
            guard let name = key.string else { throw .malformed(path: url.path, reason: "has a key that is not a string") }
            guard case .tensor(let reference) = value else {
                throw .malformed(path: url.path, reason: "has '\(name)', which is not a tensor")
            }
            guard let width = elementWidth[reference.storageType] else { continue }
            if storages[reference.key] == nil {
                guard let entry = archive[prefix + "data/" + reference.key] else {
                    throw .malformed(path: url.path, reason: "lacks storage data/\(reference.key) of tensor '\(name)'")
                }
                let expected = reference.storageCount.multipliedReportingOverflow(by: width)
                guard !expected.overflow, reference.storageCount >= 0, Int(entry.uncompressedSize) == expected.partialValue else {
                    throw .malformed(path: url.path, reason: "has storage data/\(reference.key) of \(entry.uncompressedSize) bytes, not \(reference.storageCount) × \(width)")
                }
                storages[reference.key] = try extract(entry, from: archive, path: url.path)
            }
            tensors[name] = try tensor(reference, storage: storages[reference.key]!, width: width, name: name, path: url.path)
        }
        return tensors
    }

    /// Bytes per element of the float storages read (integer storages are skipped).
    private static let elementWidth: [String: Int] = [
        "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8,
    ]

    private static func extract(_ entry: Entry, from archive: Archive, path: String) throws(TorchCheckpointError) -> Data {
        var data = Data()
        do { _ = try archive.extract(entry, skipCRC32: false) { data.append($0) } } catch {
            throw .malformed(path: path, reason: "entry \(entry.path) cannot be read (\(error))")
        }
        return data
    }

    /// The float32 values of a strided view, every index checked against the storage.
    private static func tensor(
        _ reference: TensorReference, storage: Data, width: Int, name: String, path: String
    ) throws(TorchCheckpointError) -> Tensor {
        let shape = reference.shape, strides = reference.strides
        var count = 1, last = reference.offset
        for (size, stride) in zip(shape, strides) {
            guard size >= 0, stride >= 0 else { throw .malformed(path: path, reason: "tensor '\(name)' has size \(shape), stride \(strides)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw .malformed(path: path, reason: "tensor '\(name)' has too many elements") }
            count = product
            if size > 0 { last += (size - 1) * stride }
        }
        guard reference.offset >= 0, count == 0 || last < reference.storageCount else {
            throw .malformed(path: path, reason: "tensor '\(name)' of size \(shape) at offset \(reference.offset) reaches past its storage of \(reference.storageCount) elements")
        }
        var values = [Float](repeating: 0, count: count)
        storage.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            func element(_ index: Int) -> Float {
                let at = index * width
                switch width {
                case 4: return Float(bitPattern: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian)
                case 8: return Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian))
                default:
                    let bits = raw.loadUnaligned(fromByteOffset: at, as: UInt16.self).littleEndian
                    return reference.storageType == "HalfStorage" ? Float(Float16(bitPattern: bits)) : Float(bitPattern: UInt32(bits) << 16)
                }
            }
            var index = [Int](repeating: 0, count: shape.count)
            for i in 0..<count {
                var source = reference.offset
                for axis in 0..<shape.count { source += index[axis] * strides[axis] }
                values[i] = element(source)
                var axis = shape.count - 1
                while axis >= 0 {
                    index[axis] += 1
                    if index[axis] < shape[axis] { break }
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
        return Tensor(shape: shape, scalars: values)
    }
}

/// A PyTorch checkpoint that cannot be read safely.
public enum TorchCheckpointError: Error, Equatable, CustomStringConvertible {
    /// The pickle names a global outside the few a state dict needs (`os.system`,
    /// `builtins.eval`, ...): the file is refused before any weight is read.
    case forbiddenGlobal(path: String, global: String)
    /// The file is not a PyTorch zip checkpoint, or its pickle or storages are malformed.
    case malformed(path: String, reason: String)

    /// A sentence naming the file and the problem.
    public var description: String {
        switch self {
        case .forbiddenGlobal(let path, let global):
            return "\(path) names the Python global \(global), which a state dict never needs; refusing to load it "
                + "(a pickle can run code: only tensors, dicts and the storage classes are accepted)"
        case .malformed(let path, let reason): return "PyTorch checkpoint \(path) \(reason)"
        }
    }
}
