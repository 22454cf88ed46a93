import Foundation

/// Turns line-aligned text files into TFRecord shards of `inputs`/`targets` examples, as
/// the reference's `data_download.py` does: examples round-robin across shards named
/// `NAME-TAG-00001-of-000NN`, each written to a temporary name and renamed when complete,
/// train shards shuffled (seeded here; the reference's shuffle was unseeded).
public enum CorpusPreparer {
    /// The lines of a text file, each stripped of surrounding whitespace.
    public static func lines(of url: URL) throws(CorpusError) -> [String] {
        try TextLines.read(url).map {
            String(String.UnicodeScalarView(pythonStripped($0.unicodeScalars.map(\.value)).compactMap(Unicode.Scalar.init)))
        }
    }

    /// The lines of a source file and its translation (stripped as ``lines(of:)`` strips
    /// them), which must be as many.
    ///
    /// - Throws: ``CorpusError`` for an unreadable file or different line counts.
    public static func alignedLines(source: URL, target: URL) throws(CorpusError) -> (source: [String], target: [String]) {
        let sourceLines = try lines(of: source), targetLines = try lines(of: target)
        guard sourceLines.count == targetLines.count else {
            throw .lineCountMismatch(source: source.path, sourceLines: sourceLines.count, target: target.path, targetLines: targetLines.count)
        }
        return (sourceLines, targetLines)
    }

    /// The shard file names for `name`, `tag` and `count` shards.
    public static func shardNames(name: String, tag: String, count: Int) -> [String] {
        (1...count).map { String(format: "%@-%@-%05d-of-%05d", name, tag, $0, count) }
    }

    /// Encodes the pairs of `source` and `target` and writes them into shards.
    ///
    /// When every shard already exists the step is skipped (an interrupted run resumes);
    /// otherwise all shards are rewritten.
    ///
    /// - Parameters:
    ///   - source: the source text, one sentence per line.
    ///   - target: the target text, line-aligned with `source`.
    ///   - tokenizer: encodes the source side, and the target side unless
    ///     `targetTokenizer` is given (EOS appended).
    ///   - targetTokenizer: encodes the target side when it has its own vocabulary or
    ///     SentencePiece model (a Marian model's target side).
    ///   - directory: where the shards go (created if needed).
    ///   - name: the corpus name in the shard names (`NAME-TAG-00001-of-00004`).
    ///   - tag: `train` or `dev`, which the pipeline's file patterns select.
    ///   - shards: how many files the examples are spread over.
    ///   - shuffleSeed: shuffle each shard's examples with this seed (nil keeps file order,
    ///     as for the dev set).
    ///   - copies: how many times each pair is encoded and written (1 by default). With a
    ///     tokenizer that samples (``SampledSentencePiece``) every copy is another
    ///     segmentation: subword regularization made ahead of training.
    ///   - progress: called with (pairs encoded, total pairs) now and then.
    /// - Returns: the shard files.
    /// - Throws: ``CorpusError`` for unreadable or misaligned files, ``EncodingError``, or
    ///   ``TFRecordError`` when writing fails.
    public static func writeShards(
        source: URL, target: URL, tokenizer: any Tokenizer, targetTokenizer: (any Tokenizer)? = nil, directory: URL,
        name: String, tag: String, shards: Int, shuffleSeed: UInt64?, copies: Int = 1, progress: ((Int, Int) -> Void)? = nil
    ) throws -> [URL] {
        let urls = shardNames(name: name, tag: tag, count: shards).map { directory.appendingPathComponent($0) }
        if urls.allSatisfy({ FileManager.default.fileExists(atPath: $0.path) }) { return urls }
        let (sourceLines, targetLines) = try alignedLines(source: source, target: target)
        return try writeShards(
            sourceLines: sourceLines, targetLines: targetLines, tokenizer: tokenizer, targetTokenizer: targetTokenizer,
            directory: directory, name: name, tag: tag, shards: shards, shuffleSeed: shuffleSeed, copies: copies,
            progress: progress)
    }

    /// Encodes line-aligned pairs already read (stripped as ``lines(of:)`` strips them) and
    /// writes them into shards, as ``writeShards(source:target:tokenizer:targetTokenizer:directory:name:tag:shards:shuffleSeed:copies:progress:)``
    /// does (without its skip: every shard is written).
    ///
    /// Each shard is written under a temporary name of this process and renamed when
    /// complete, so processes that write the same shards at once (every process of a
    /// data-parallel fine-tuning run) leave whole files.
    ///
    /// - Precondition: the two arrays have the same length; `shards` and `copies` are positive.
    /// - Throws: ``EncodingError`` from the tokenizers, ``TFRecordError`` or
    ///   ``CorpusError/writeFailed(path:reason:)`` when writing fails.
    public static func writeShards(
        sourceLines: [String], targetLines: [String], tokenizer: any Tokenizer, targetTokenizer: (any Tokenizer)? = nil,
        directory: URL, name: String, tag: String, shards: Int, shuffleSeed: UInt64?, copies: Int = 1,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> [URL] {
        let targetTokenizer = targetTokenizer ?? tokenizer
        precondition(shards > 0 && copies > 0, "writeShards: shard and copy counts must be positive")
        precondition(sourceLines.count == targetLines.count, "writeShards: \(sourceLines.count) source and \(targetLines.count) target lines")
        let urls = shardNames(name: name, tag: tag, count: shards).map { directory.appendingPathComponent($0) }
        var perShard = [[Data]](repeating: [], count: shards)
        let total = sourceLines.count * copies
        // Copy by copy, so that each pass over the text continues the round robin.
        for copy in 0..<copies {
            for (index, (s, t)) in zip(sourceLines, targetLines).enumerated() {
                let example = TranslationExample(
                    inputs: try tokenizer.encode(s, addEOS: true), targets: try targetTokenizer.encode(t, addEOS: true))
                let i = copy * sourceLines.count + index
                perShard[i % shards].append(example.serialized)
                if i % 2000 == 0 || i == total - 1 { progress?(i + 1, total) }
            }
        }
        for (index, url) in urls.enumerated() {
            var records = perShard[index]
            if let shuffleSeed {
                var random = SplitMix64(seed: shuffleSeed &+ UInt64(index))
                random.shuffle(&records)
            }
            let temporary = url.appendingPathExtension("incomplete-\(ProcessInfo.processInfo.processIdentifier)")
            let writer = try TFRecordWriter(url: temporary)
            for record in records { try writer.write(record) }
            try writer.close()
            // rename(2) replaces an existing shard atomically (FileManager's move would refuse to).
            guard rename(temporary.path, url.path) == 0 else {
                throw CorpusError.writeFailed(path: url.path, reason: String(cString: strerror(errno)))
            }
        }
        return urls
    }
}
