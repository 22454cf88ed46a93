/// A value of the pickle subset a PyTorch state dict is written with.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case tuple([PickleValue])
    case list([PickleValue])
    /// Keys in insertion order (a dict or an `OrderedDict`).
    case dict([(PickleValue, PickleValue)])
    /// One of the globals ``RestrictedUnpickler/allowedGlobals`` lists.
    case global(module: String, name: String)
    /// A persistent id's tuple (`BINPERSID`), a storage reference in PyTorch files.
    case persistent([PickleValue])
    /// The result of `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`.
    case tensor(TensorReference)
    case mark

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var int: Int? { if case .int(let i) = self { return i } else { return nil } }
    var tuple: [PickleValue]? { if case .tuple(let t) = self { return t } else { return nil } }
}

/// Where a tensor's values are in a PyTorch zip: storage `key` (file `data/<key>`) of
/// `storageType` and `storageCount` elements, and the view of it.
struct TensorReference {
    var storageType: String
    var key: String
    var storageCount: Int
    var offset: Int
    var shape: [Int]
    var strides: [Int]
}

/// Reads the pickle of a PyTorch checkpoint without running anything: a stack machine for
/// the opcodes `torch.save` writes (protocols 2 to 5), which knows the handful of globals
/// a state dict needs and refuses every other one when it is named, before any weight is
/// read. Nothing is ever called: `REDUCE` is evaluated here for the two allowed
/// callables (`OrderedDict()` and `_rebuild_tensor_v2`), never handed to anything else.
///
/// Python's `pickle` would import and call whatever the file names (`os.system`,
/// `builtins.eval`); that is why this reader exists rather than a general unpickler.
struct RestrictedUnpickler {
    /// The globals a state dict may name: the ordered dict, the tensor rebuild and the
    /// storage classes of the element types PyTorch saves weights in.
    static let allowedGlobals: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
        "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.DoubleStorage",
        "torch.LongStorage", "torch.IntStorage",
    ]

    let bytes: [UInt8]
    /// Names the file in errors.
    let path: String
    private var position = 0
    private var stack: [PickleValue] = []
    private var memo: [Int: PickleValue] = [:]

    init(bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    private func fail(_ reason: String) -> TorchCheckpointError { .malformed(path: path, reason: reason) }

    private mutating func take(_ count: Int) throws(TorchCheckpointError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - position else { throw fail("ends inside an opcode at byte \(position)") }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    private mutating func unsigned(_ count: Int) throws(TorchCheckpointError) -> Int {
        let slice = try take(count)
        var value = 0
        for (i, byte) in slice.enumerated() { value |= Int(byte) << (8 * i) }
        return value
    }

    private mutating func pop() throws(TorchCheckpointError) -> PickleValue {
        guard let value = stack.popLast() else { throw fail("pops an empty stack at byte \(position)") }
        return value
    }

    /// The values above the topmost mark, which is removed.
    private mutating func popToMark() throws(TorchCheckpointError) -> [PickleValue] {
        guard let mark = stack.lastIndex(where: { if case .mark = $0 { return true } else { return false } }) else {
            throw fail("has no MARK for the opcode at byte \(position)")
        }
        let items = Array(stack[(mark + 1)...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func text(_ count: Int) throws(TorchCheckpointError) -> String {
        let slice = try take(count)
        guard let string = String(validating: slice, as: UTF8.self) else { throw fail("has a string that is not UTF-8") }
        return string
    }

    /// Runs the pickle to its STOP and returns the value it built.
    ///
    /// - Throws: ``TorchCheckpointError/forbiddenGlobal(path:global:)`` for any global
    ///   not in ``allowedGlobals`` and ``TorchCheckpointError/malformed(path:reason:)``
    ///   for an opcode outside the subset, a call of anything but the two allowed
    ///   callables, or bytes that end early.
    mutating func run() throws(TorchCheckpointError) -> PickleValue {
        while true {
            let opcode = try unsigned(1)
            switch opcode {
            case 0x80: _ = try unsigned(1)  // PROTO
            case 0x95: _ = try unsigned(8)  // FRAME
            case 0x2E: return try pop()  // STOP
            case 0x28: stack.append(.mark)  // MARK
            case 0x4E: stack.append(.none)
            case 0x88: stack.append(.bool(true))
            case 0x89: stack.append(.bool(false))
            case 0x4B: stack.append(.int(try unsigned(1)))  // BININT1
            case 0x4D: stack.append(.int(try unsigned(2)))  // BININT2
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try unsigned(4)))))  // BININT
            case 0x8A: stack.append(.int(try long(count: try unsigned(1))))  // LONG1
            case 0x47:  // BINFLOAT, big-endian
                let raw = try take(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                stack.append(.float(Double(bitPattern: raw)))
            case 0x8C: stack.append(.string(try text(try unsigned(1))))  // SHORT_BINUNICODE
            case 0x58: stack.append(.string(try text(try unsigned(4))))  // BINUNICODE
            case 0x8D: stack.append(.string(try text(try unsigned(8))))  // BINUNICODE8
            case 0x29: stack.append(.tuple([]))  // EMPTY_TUPLE
            case 0x85: stack.append(.tuple([try pop()]))  // TUPLE1
            case 0x86:  // TUPLE2
                let b = try pop(), a = try pop()
                stack.append(.tuple([a, b]))
            case 0x87:  // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                stack.append(.tuple([a, b, c]))
            case 0x74: stack.append(.tuple(try popToMark()))  // TUPLE
            case 0x5D: stack.append(.list([]))  // EMPTY_LIST
            case 0x7D: stack.append(.dict([]))  // EMPTY_DICT
            case 0x61:  // APPEND
                let item = try pop()
                try appendItems([item])
            case 0x65: try appendItems(try popToMark())  // APPENDS
            case 0x73:  // SETITEM
                let value = try pop(), key = try pop()
                try setItems([key, value])
            case 0x75: try setItems(try popToMark())  // SETITEMS
            case 0x71: memo[try unsigned(1)] = stack.last  // BINPUT
            case 0x72: memo[try unsigned(4)] = stack.last  // LONG_BINPUT
            case 0x94: memo[memo.count] = stack.last  // MEMOIZE
            case 0x68: stack.append(try memoValue(try unsigned(1)))  // BINGET
            case 0x6A: stack.append(try memoValue(try unsigned(4)))  // LONG_BINGET
            case 0x63:  // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                stack.append(try global(module, name))
            case 0x93:  // STACK_GLOBAL
                guard let name = try pop().string, let module = try pop().string else {
                    throw fail("has a STACK_GLOBAL whose operands are not strings")
                }
                stack.append(try global(module, name))
            case 0x51:  // BINPERSID
                guard let id = try pop().tuple else { throw fail("has a persistent id that is not a tuple") }
                stack.append(.persistent(id))
            case 0x52:  // REDUCE
                let arguments = try pop(), callable = try pop()
                stack.append(try reduce(callable, arguments))
            case 0x62:  // BUILD: only an ordered dict's attributes (`_metadata`), which are dropped
                _ = try pop()
                guard case .dict = stack.last else { throw fail("sets attributes (BUILD) on something other than a dict") }
            default:
                throw fail("has opcode 0x\(String(opcode, radix: 16)) at byte \(position - 1), outside what a state dict uses")
            }
            if stack.count > 1_000_000 { throw fail("nests deeper than a state dict does") }
        }
    }

    private mutating func long(count: Int) throws(TorchCheckpointError) -> Int {
        guard count <= 8 else { throw fail("has an integer of \(count) bytes") }
        let slice = try take(count)
        var value: UInt64 = 0
        for (i, byte) in slice.enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        if count > 0 && count < 8 && slice.last! & 0x80 != 0 { value |= ~UInt64(0) << (8 * UInt64(count)) }
        return Int(Int64(bitPattern: value))
    }

    private mutating func line() throws(TorchCheckpointError) -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0A) else { throw fail("has a GLOBAL without its newline") }
        let value = try text(end - position)
        position += 1
        return value
    }

    private func memoValue(_ index: Int) throws(TorchCheckpointError) -> PickleValue {
        guard let value = memo[index] else { throw fail("reads memo entry \(index), never written") }
        return value
    }

    private func global(_ module: String, _ name: String) throws(TorchCheckpointError) -> PickleValue {
        guard Self.allowedGlobals.contains("\(module).\(name)") else {
            throw .forbiddenGlobal(path: path, global: "\(module).\(name)")
        }
        return .global(module: module, name: name)
    }

    private mutating func appendItems(_ items: [PickleValue]) throws(TorchCheckpointError) {
        guard case .list(var list) = try pop() else { throw fail("appends to something other than a list") }
        list.append(contentsOf: items)
        stack.append(.list(list))
    }

    private mutating func setItems(_ items: [PickleValue]) throws(TorchCheckpointError) {
        guard items.count % 2 == 0, case .dict(var pairs) = try pop() else {
            throw fail("sets items on something other than a dict")
        }
        for i in stride(from: 0, to: items.count, by: 2) { pairs.append((items[i], items[i + 1])) }
        stack.append(.dict(pairs))
    }

    /// `callable(*arguments)` for the two callables a state dict uses.
    private func reduce(_ callable: PickleValue, _ arguments: PickleValue) throws(TorchCheckpointError) -> PickleValue {
        guard case .global(let module, let name) = callable, let arguments = arguments.tuple else {
            throw fail("calls (REDUCE) something that is not an allowed global")
        }
        switch "\(module).\(name)" {
        case "collections.OrderedDict":
            guard arguments.isEmpty else { throw fail("builds an OrderedDict from arguments") }
            return .dict([])
        case "torch._utils._rebuild_tensor_v2":
            return .tensor(try tensorReference(arguments))
        default:
            throw fail("calls \(module).\(name), which a state dict never calls")
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata])`.
    private func tensorReference(_ arguments: [PickleValue]) throws(TorchCheckpointError) -> TensorReference {
        guard arguments.count >= 4, case .persistent(let id) = arguments[0], id.count == 5, id[0].string == "storage",
            case .global(_, let storageType) = id[1], let key = id[2].string, let storageCount = id[4].int,
            let offset = arguments[1].int, let size = arguments[2].tuple, let stride = arguments[3].tuple
        else { throw fail("has a tensor whose rebuild arguments are not (storage, offset, size, stride, ...)") }
        let shape = size.compactMap(\.int), strides = stride.compactMap(\.int)
        guard shape.count == size.count, strides.count == shape.count else {
            throw fail("has a tensor whose size or stride is not a tuple of integers")
        }
        return TensorReference(
            storageType: storageType, key: key, storageCount: storageCount, offset: offset, shape: shape, strides: strides)
    }
}
