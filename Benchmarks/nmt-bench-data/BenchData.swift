// Data benchmarks: vocabulary build time and encoding speed of the subword tokenizer on
// a corpus, printing one JSON object per line.
//
//   swift run -c release nmt-bench-data --train-en FILE --train-de FILE [--vocab-out FILE]
//       [--encode FILE ...] [--target 8192] [--threshold 82]
//
// After building the vocabulary it encodes the training pair into 4 TFRecord shards in a
// temporary directory and measures the input pipeline: examples and target tokens per
// second through bucketed and static batching (3 shuffled epochs each).
import ArgumentParser
import Foundation
import NMTData

@main
struct BenchData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-bench-data", abstract: "Benchmark the tokenizer and the input pipeline; one JSON object per line.")

    @Option(help: "English side of the training corpus.") var trainEn: String
    @Option(help: "German side of the training corpus.") var trainDe: String
    @Option(help: "Write the built vocabulary here.") var vocabOut: String?
    @Option(help: "Also measure encoding this file (repeatable).") var encode: [String] = []
    @Option(help: "Target vocabulary size.") var target: Int = 8192
    @Option(help: "Upper bound of the subtoken count threshold search.") var threshold: Int = 82

    func validate() throws {
        for path in [trainEn, trainDe] + encode where !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("\(path) does not exist")
        }
        if target < 1 || threshold < 0 { throw ValidationError("--target must be positive and --threshold not negative") }
    }

    func run() throws {
        let files = [trainEn, trainDe].map { URL(fileURLWithPath: $0) }
        var start = now()
        let tokenizer = try VocabularyBuilder.build(files: files, targetSize: target, threshold: threshold) { line in
            FileHandle.standardError.write(Data("  \(line)\n".utf8))
        }
        emit(["benchmark": "vocabulary_build", "seconds": (now() - start) * 1000 / 1000, "subtokens": tokenizer.vocabularySize,
              "target": target, "threshold": threshold])
        if let vocabOut { try tokenizer.write(to: URL(fileURLWithPath: vocabOut)) }

        for path in encode {
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var ids = 0
            start = now()
            for line in lines { ids += try tokenizer.encode(line, addEOS: true).count }
            let seconds = now() - start
            emit(["benchmark": "encode", "file": path, "lines": lines.count, "ids": ids, "seconds": seconds,
                  "lines_per_second": (Double(lines.count) / seconds).rounded()])
        }

        // Input pipeline throughput on the training pair.
        let shardDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("nmt-bench-data-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: shardDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: shardDirectory) }
        start = now()
        let shards = try CorpusPreparer.writeShards(
            source: URL(fileURLWithPath: trainEn), target: URL(fileURLWithPath: trainDe), tokenizer: tokenizer,
            directory: shardDirectory, name: "bench", tag: "train", shards: 4, shuffleSeed: 1)
        emit(["benchmark": "write_shards", "seconds": now() - start, "shards": shards.count])
        for staticBatches in [false, true] {
            let options = DatasetOptions(
                batchTokens: 4096, maxLength: 64, staticBatches: staticBatches, shuffle: true, seed: 1, epochs: 3)
            let dataset = try TranslationDataset(filePattern: shardDirectory.appendingPathComponent("*train*").path, options: options)
            let prefetching = PrefetchingIterator(try dataset.makeIterator())
            var examples = 0, tokens = 0, batches = 0
            start = now()
            while let batch = try prefetching.next() {
                examples += batch.sentenceCount
                tokens += batch.targetTokenCount
                batches += 1
            }
            let seconds = now() - start
            emit(["benchmark": "pipeline", "static_batches": staticBatches, "epochs": 3, "batches": batches, "examples": examples,
                  "seconds": seconds, "examples_per_second": (Double(examples) / seconds).rounded(),
                  "target_tokens_per_second": (Double(tokens) / seconds).rounded()])
        }
    }
}

func emit(_ fields: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

