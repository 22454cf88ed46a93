// Attention over a decoder's history of keys and values without copying it: each decoded
// position keeps its own [rows, H] keys and values, and a table says which row of each a
// current row reads (the beams' ancestry).
import CNMTKernels

/// Where each current row's entry of every decoded position lives: row `table[r, s]` of
/// the tensors decoded at position `s`.
///
/// Beam search reorders its rows at every step and drops sentences that have finished. A
/// cache of [rows, positions, H] keys has to copy all of it for that; a history of
/// per-position tensors only composes this table (``advance(selecting:)``), and attention
/// reads each key where it was written (``Tensor/multiHeadScores(queries:history:origins:heads:scale:)``).
public struct RowOrigins: Sendable {
    /// Rows now.
    public private(set) var rowCount: Int
    /// Row count of the tensors of each position, as it was decoded.
    public private(set) var rowsAtPosition: [Int]
    /// [rowCount, positions]: row r reads row `table[r, s]` of position s's tensors.
    public private(set) var table: IndexTensor

    /// No positions yet, for `rowCount` rows.
    public init(rowCount: Int) {
        precondition(rowCount >= 0, "RowOrigins: negative row count \(rowCount)")
        self.rowCount = rowCount
        rowsAtPosition = []
        table = IndexTensor(shape: [rowCount, 0], scalars: [])
    }

    /// Positions decoded so far.
    public var positionCount: Int { rowsAtPosition.count }

    /// Picks the rows (row r becomes the current row `rows[r]`; nil keeps them), then adds a
    /// position whose tensors hold the rows in that new order.
    ///
    /// - Precondition: every selected row is below ``rowCount``.
    public mutating func advance(selecting rows: [Int32]?) {
        let picked = rows ?? (0..<rowCount).map(Int32.init)
        precondition(picked.allSatisfy { $0 >= 0 && Int($0) < rowCount }, "RowOrigins: row selection outside 0..<\(rowCount)")
        let old = table.scalars, positions = positionCount
        var scalars = [Int32]()
        scalars.reserveCapacity(picked.count * (positions + 1))
        for (r, source) in picked.enumerated() {
            scalars.append(contentsOf: old[(Int(source) * positions)..<(Int(source) * positions + positions)])
            scalars.append(Int32(r))
        }
        rowCount = picked.count
        rowsAtPosition.append(rowCount)
        table = IndexTensor(shape: [rowCount, positions + 1], scalars: scalars)
    }
}

extension Tensor {
    /// Checks a history against its origins: one [rows at s, H] tensor per position, no tape.
    private static func checkHistory(_ history: [Tensor], _ origins: RowOrigins, hidden: Int, _ op: StaticString) {
        precondition(history.count == origins.positionCount, "\(op): \(history.count) positions for origins of \(origins.positionCount)")
        for (s, tensor) in history.enumerated() {
            precondition(
                tensor.shape == [origins.rowsAtPosition[s], hidden] && tensor.tape == nil,
                "\(op): position \(s) is \(tensor.shape), expected [\(origins.rowsAtPosition[s]), \(hidden)] outside differentiation")
        }
    }

    /// Attention logits of every head of one query row per current row against the keys of
    /// every decoded position, read in place through `origins`: the floats of
    /// ``multiHeadScores(queries:keys:heads:scale:)`` on the gathered [rows, positions, H]
    /// keys outside differentiation, without gathering them (each score one fused
    /// multiply-add chain over the head's depth from +0, times `scale`).
    ///
    /// For decoding only: nothing is differentiated.
    ///
    /// - Parameters:
    ///   - q: the queries [rows, 1, N·d].
    ///   - history: per position, its keys [rows at that position, N·d].
    ///   - origins: which row of each position every query row reads.
    ///   - heads: N.
    ///   - scale: multiplies every score (a power of two gives exactly the floats of scaling
    ///     the queries first).
    /// - Returns: [rows, N, 1, positions].
    public static func multiHeadScores(queries q: Tensor, history: [Tensor], origins: RowOrigins, heads: Int, scale: Float = 1)
        -> Tensor
    {
        let (rows, hidden) = (q.shape[0], q.shape.last ?? 0)
        precondition(
            q.rank == 3 && q.shape[1] == 1 && rows == origins.rowCount && q.tape == nil && heads > 0 && hidden % heads == 0,
            "multiHeadScores(history:): queries \(q.shape) for \(origins.rowCount) rows and \(heads) heads")
        checkHistory(history, origins, hidden: hidden, "multiHeadScores(history:)")
        let positions = history.count
        let out = Tensor(uninitializedShape: [rows, heads, 1, positions], tape: nil)
        KernelDispatch.run(
            KernelLaunch(
                "mha_history_scores", inputs: [q.buffer, origins.table.buffer] + history.map(\.buffer), outputs: [out.buffer]
            ) { args in
                let keys = (0..<positions).map { Optional(args.input(2 + $0)) }
                nmt_history_scores(rows, positions, heads, hidden / heads, scale, args.input(0), keys, args.indices(1), args.output(0))
            }, on: nil)
        return out
    }

    /// Attention outputs of every head for weights over the decoded positions, with the
    /// values read in place through `origins`: the floats of
    /// ``multiHeadCombine(weights:values:)`` on the gathered values outside differentiation
    /// (each output one fused multiply-add chain over the positions from +0).
    ///
    /// - Parameters:
    ///   - w: the attention probabilities [rows, N, 1, positions].
    ///   - history: per position, its values [rows at that position, N·d].
    ///   - origins: which row of each position every row reads.
    /// - Returns: [rows, 1, N·d].
    public static func multiHeadCombine(weights w: Tensor, history: [Tensor], origins: RowOrigins) -> Tensor {
        let (rows, heads, positions) = (w.shape[0], w.shape[1], history.count)
        let hidden = history.first?.shape.last ?? 0
        precondition(
            w.rank == 4 && w.shape[2] == 1 && w.shape[3] == positions && rows == origins.rowCount && w.tape == nil && heads > 0
                && hidden % heads == 0,
            "multiHeadCombine(history:): weights \(w.shape) for \(positions) positions of \(origins.rowCount) rows")
        checkHistory(history, origins, hidden: hidden, "multiHeadCombine(history:)")
        let out = Tensor(uninitializedShape: [rows, 1, hidden], tape: nil)
        KernelDispatch.run(
            KernelLaunch(
                "mha_history_combine", inputs: [w.buffer, origins.table.buffer] + history.map(\.buffer), outputs: [out.buffer]
            ) { args in
                let values = (0..<positions).map { Optional(args.input(2 + $0)) }
                nmt_history_combine(rows, positions, heads, hidden / heads, args.input(0), values, args.indices(1), args.output(0))
            }, on: nil)
        return out
    }
}
