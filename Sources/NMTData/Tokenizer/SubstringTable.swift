/// Every substring of a set of escaped tokens, numbered once, so that the rounds of
/// vocabulary generation count and look up substrings by array index instead of hashing
/// `[UInt32]` keys (which allocate and dominated the build time).
///
/// Substring ids come from a trie walked from every start position of every token; the
/// id of `token[s..<e]` is stored in a flat triangular table per token.
struct SubstringTable {
    /// The escaped tokens and their counts.
    let tokens: [[UInt32]]
    let tokenCounts: [Int]
    /// Start of each token's triangular block in `ids`.
    private let blockStarts: [Int]
    /// `ids[blockStarts[t] + rowStart(s, L) + (e - s - 1)]` is the id of `tokens[t][s..<e]`.
    private let ids: [Int32]
    /// Length of each substring, by id.
    let lengths: [Int32]
    /// One occurrence of each substring, by id: (token, start).
    private let occurrences: [(token: Int32, start: Int32)]
    /// Ids of single characters.
    let characterIDs: [UInt32: Int32]

    /// Number of distinct substrings.
    var count: Int { lengths.count }

    init(tokens: [(token: [UInt32], count: Int)]) {
        self.tokens = tokens.map(\.token)
        tokenCounts = tokens.map(\.count)
        var blockStarts: [Int] = [], ids: [Int32] = [], lengths: [Int32] = []
        var occurrences: [(token: Int32, start: Int32)] = []
        // Trie edges keyed by (parent id + 1) << 32 | character; parent 0 is the root.
        var edges: [UInt64: Int32] = [:]
        edges.reserveCapacity(tokens.count * 16)
        for (t, token) in self.tokens.enumerated() {
            blockStarts.append(ids.count)
            for s in 0..<token.count {
                var parent: Int32 = -1
                for e in (s + 1)...token.count {
                    let key = UInt64(UInt32(bitPattern: parent + 1)) << 32 | UInt64(token[e - 1])
                    let id: Int32
                    if let existing = edges[key] {
                        id = existing
                    } else {
                        id = Int32(lengths.count)
                        edges[key] = id
                        lengths.append(Int32(e - s))
                        occurrences.append((Int32(t), Int32(s)))
                    }
                    ids.append(id)
                    parent = id
                }
            }
        }
        var characterIDs: [UInt32: Int32] = [:]
        for (key, id) in edges where key >> 32 == 0 { characterIDs[UInt32(truncatingIfNeeded: key)] = id }
        self.blockStarts = blockStarts
        self.ids = ids
        self.lengths = lengths
        self.occurrences = occurrences
        self.characterIDs = characterIDs
    }

    /// Offset of row `s` in the triangular block of a token of length `length`.
    @inline(__always)
    private static func rowStart(_ s: Int, _ length: Int) -> Int { s * length - s * (s - 1) / 2 }

    /// The id of `tokens[t][s..<e]`.
    @inline(__always)
    func id(token t: Int, start s: Int, end e: Int) -> Int32 {
        ids[blockStarts[t] + Self.rowStart(s, tokens[t].count) + (e - s - 1)]
    }

    /// The id of the first `length` characters of substring `id`.
    @inline(__always)
    func prefix(of id: Int32, length: Int) -> Int32 {
        let (t, s) = occurrences[Int(id)]
        return self.id(token: Int(t), start: Int(s), end: Int(s) + length)
    }

    /// The characters of substring `id`.
    func contents(_ id: Int32) -> ArraySlice<UInt32> {
        let (t, s) = occurrences[Int(id)]
        return tokens[Int(t)][Int(s)..<(Int(s) + Int(lengths[Int(id)]))]
    }
}
