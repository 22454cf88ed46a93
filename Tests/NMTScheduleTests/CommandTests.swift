import Foundation
import NMTTestSupport
import XCTest

/// The training, translation, scoring and evaluation programs: bad flags and missing files
/// exit non-zero with a one-line reason; nmt-bleu prints the reference's numbers.
final class CommandTests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws {
        directory = try temporaryDirectory(for: self, prefix: "nmt-commands")
    }

    func run(_ product: String, _ arguments: [String]) throws -> (output: String, error: String, status: Int32) {
        try runProduct(product, arguments, testCase: Self.self)
    }

    func file(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    func testBLEUCommand() throws {
        let reference = try file("ref", "Test 1 two 3\nmore tests!\n"), hypothesis = try file("hyp", "test 1 two 3\nMore tests!\n")
        let both = try run("nmt-bleu", ["--translation", hypothesis, "--reference", reference])
        XCTAssertEqual(both.status, 0, both.error)
        XCTAssertEqual(both.output.split(separator: "\n"), [
            "BLEU|nrefs:1|case:lc|eff:no|tok:intl|smooth:reference|version:swift-nmt = 100.00",
            "BLEU|nrefs:1|case:mixed|eff:no|tok:intl|smooth:reference|version:swift-nmt = 51.70",
        ])
        let cased = try run("nmt-bleu", ["--translation", hypothesis, "--reference", reference, "--variant", "cased", "--score-only"])
        XCTAssertEqual(cased.output, "51.70\n")
    }

    func testBadFlagsAndMissingFilesFailWithOneLineReasons() throws {
        let missing = directory.appendingPathComponent("missing").path
        let cases: [(String, [String], String)] = [
            ("nmt-bleu", ["--translation", missing, "--reference", missing], "does not exist"),
            ("nmt-bleu", ["--translation", try file("a", "x\n"), "--reference", try file("b", "x\n"), "--tokenize", "bad"], "intl or 13a"),
            ("nmt-translate", ["--model-dir", missing, "--vocab", missing, "--text", "Hallo"], "does not exist"),
            ("nmt-translate", ["--model-dir", directory.path, "--vocab", try file("v", "'a'\n")], "--text or --file"),
            ("nmt-train", ["--data-dir", missing, "--model-dir", directory.path, "--vocab", missing], "does not exist"),
            ("nmt-train", ["--data-dir", directory.path, "--model-dir", directory.path, "--vocab", try file("v2", "'a'\n"),
                           "--train-steps", "10", "--train-epochs", "2"], "mutually exclusive"),
            ("nmt-train", ["--data-dir", directory.path, "--model-dir", directory.path, "--vocab", try file("v3", "'a'\n"),
                           "--param-set", "huge"], "tiny, base or big"),
            ("nmt-translate", ["--model-dir", directory.path, "--vocab", try file("v4", "'a'\n"), "--text", "x", "--device", "tpu"],
             "one of 'cpu' and 'static'"),
            ("nmt-translate", ["--model-dir", directory.path, "--vocab", try file("v7", "'a'\n"), "--text", "x", "--shards", "0"],
             "--shards must be in 1...10000, not 0"),
            ("nmt-train", ["--data-dir", directory.path, "--model-dir", directory.path, "--vocab", try file("v8", "'a'\n"),
                           "--optimizer", "sgd"], "'adam', 'lazyadam', 'adamw' or 'adafactor'"),
            ("nmt-translate", ["--model-dir", directory.path, "--vocab", try file("v5", "'a'\n"), "--text", "x", "--device", "static",
                               "--shards", "3"], "does not divide across 3 shards"),
            ("nmt-train", ["--data-dir", directory.path, "--model-dir", directory.path, "--vocab", try file("v6", "'a'\n"),
                           "--iterations-per-loop", "0"], "--iterations-per-loop must be at least 1"),
            ("nmt-translate", ["--model-dir", directory.path, "--vocab", try file("v11", "'a'\n"), "--text", "x", "--int8",
                               "--device", "static"], "--int8 runs on the CPU device only"),
            ("nmt-translate", ["--model-dir", directory.path, "--vocab", try file("v9", "'a'\n"), "--text", "x", "--extra-length=-5"],
             "--extra-length must be in 0...10000, not -5"),
            ("nmt-train", ["--data-dir", directory.path, "--model-dir", directory.path, "--vocab", try file("v10", "'a'\n"),
                           "--checkpoint-every=0"], "checkpoint interval is 0"),
            ("nmt-train", ["--data-dir", directory.path, "--model-dir", directory.path, "--vocab", try file("v11", "'a'\n"),
                           "--checkpoint-every=-2"], "checkpoint interval is -2"),
            ("nmt-train", ["--data-dir", directory.path, "--model-dir", directory.path, "--vocab", try file("v12", "'a'\n"),
                           "--warmup-steps=0"], "warmup steps is 0"),
            ("nmt-train", ["--data-dir", directory.path, "--model-dir", directory.path, "--vocab", try file("v13", "'a'\n"),
                           "--max-seconds=-1"], "time budget is -1"),
            ("nmt-train", ["--data-dir", directory.path, "--model-dir", directory.path, "--vocab", try file("v14", "'a'\n"),
                           "--learning-rate=nan"], "learning rate is nan"),
            ("nmt-evaluate", ["--model-dir", directory.path, "--data", "x", "--device", "gpu"], "one of 'cpu' and 'static'"),
            ("nmt-evaluate", ["--model-dir", missing, "--data", "x"], "does not exist"),
            ("nmt-evaluate", ["--model-dir", directory.path, "--data", "x"], "holds no model"),
        ]
        for (product, arguments, reason) in cases + (try outOfRangeCases()) {
            let result = try run(product, arguments)
            XCTAssertNotEqual(result.status, 0, "\(product) \(arguments)")
            let firstLine = result.error.split(separator: "\n").first.map(String.init) ?? ""
            XCTAssertTrue(firstLine.contains(reason), "\(product): first line of stderr was '\(firstLine)'")
        }
    }

    /// Numbers that once trapped (a segfault for a beam of 2⁶³ − 1, arithmetic overflow
    /// for --batch, --extra-length, --max-length-ratio and --train-steps) or did nothing
    /// without a word (--accumulate): each is refused naming the flag or option.
    func outOfRangeCases() throws -> [(String, [String], String)] {
        let huge = String(Int.max)
        let translate = ["--model-dir", directory.path, "--vocab", try file("bounds-vocab", "'a'\n"), "--text", "x"]
        let train = ["--data-dir", directory.path, "--model-dir", directory.path, "--vocab", try file("bounds-vocab", "'a'\n")]
        return [
            ("nmt-translate", translate + ["--beam", huge], "--beam must be in 1...1000, not \(huge)"),
            ("nmt-translate", translate + ["--extra-length", huge], "--extra-length must be in 0...10000"),
            ("nmt-translate", translate + ["--batch", huge], "--batch must be in 1...100000"),
            ("nmt-translate", translate + ["--max-length-ratio", "1e30"], "--max-length-ratio must be in 0.0...1000.0, not 1e+30"),
            ("nmt-translate", translate + ["--batch-tokens", huge], "--batch-tokens must be in 1...10000000"),
            ("nmt-train", train + ["--train-steps", huge], "train steps is \(huge); must be in 1...1000000000"),
            ("nmt-train", train + ["--accumulate", huge], "accumulation steps is \(huge); must be in 1...4096"),
            ("nmt-train", train + ["--threads", huge], "--threads must be in 1...1024"),
            ("nmt-train", train + ["--max-seconds", "1e400"], "time budget"),
            ("nmt-prepare", ["corpus", "--train-source", "a", "--train-target", "a", "--dev-source", "a", "--dev-target", "a",
                             "--output", directory.path, "--shards", huge], "--shards must be in 1...10000"),
        ]
    }

    /// Under mpirun every nmt-train process would train alone into one model directory
    /// (one wrote a checkpoint before the job aborted): refused before anything, pointing
    /// at nmt-train-distributed; so is the old `--distributed` flag.
    func testTrainingUnderMpirunIsRefusedWithDirections() throws {
        let model = directory.appendingPathComponent("model")
        let arguments = ["--data-dir", directory.path, "--model-dir", model.path, "--vocab", try file("vocab", "'a'\n")]
        let underMpirun = try runProduct("nmt-train", arguments, testCase: Self.self, environment: ["OMPI_COMM_WORLD_SIZE": "2"])
        XCTAssertNotEqual(underMpirun.status, 0)
        XCTAssertTrue(underMpirun.error.contains("runs as one of 2 mpirun processes"), underMpirun.error)
        XCTAssertTrue(underMpirun.error.contains("mpirun -np 2 nmt-train-distributed"), underMpirun.error)
        let oldFlag = try run("nmt-train", arguments + ["--distributed"])
        XCTAssertNotEqual(oldFlag.status, 0)
        XCTAssertTrue(oldFlag.error.contains("data-parallel training is nmt-train-distributed"), oldFlag.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: model.path), "nothing written")
    }

    /// nmt-train needs no Open MPI: no library it loads belongs to an Open MPI package, so
    /// it runs on a machine without one (the other tests here train with it). The control:
    /// nmt-train-distributed loads libmpi from Debian's Open MPI package, which the same
    /// check finds.
    func testNmtTrainLoadsNoOpenMPILibrary() throws {
        func openMPIPackages(of product: String) throws -> [String] {
            let ldd = try runProgram(URL(fileURLWithPath: "/usr/bin/ldd"), [productURL(product, testCase: Self.self).path])
            XCTAssertEqual(ldd.status, 0, ldd.error)
            XCTAssertFalse(ldd.output.contains("not found"), ldd.output)
            // "libx.so.1 => /path/libx.so.1 (0x...)": the resolved path of each library.
            let paths = ldd.output.split(separator: "\n").compactMap { line -> String? in
                guard let arrow = line.range(of: "=> /") else { return nil }
                return String(line[line.index(before: arrow.upperBound)...].split(separator: " ")[0])
            }
            XCTAssertGreaterThan(paths.count, 3, ldd.output)
            let resolved = paths.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path }
            let owners = try runProgram(URL(fileURLWithPath: "/usr/bin/dpkg"), ["-S"] + resolved)
            // dpkg -S prints "package:arch: path" per file it knows (a library built here is unknown).
            return owners.output.split(separator: "\n").map { String($0.split(separator: ":")[0]) }
                .filter { $0.contains("openmpi") || $0.contains("pmix") || $0.contains("libmpi") }
        }
        XCTAssertEqual(try openMPIPackages(of: "nmt-train"), [])
        XCTAssertFalse(try openMPIPackages(of: "nmt-train-distributed").isEmpty, "the control finds Open MPI")
    }
}
