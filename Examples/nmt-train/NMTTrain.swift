// nmt-train: trains a Transformer on TFRecord shards prepared by nmt-prepare, evaluating
// on the dev shards after each iteration and optionally scoring BLEU; resumes from the
// newest checkpoint in the model directory. One process: it links no MPI library
// (data-parallel training across processes is nmt-train-distributed).
import ArgumentParser
import Foundation
import Logging
import NMT
import NMTCommandLine

@main
struct NMTTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-train",
        abstract: "Train a Transformer translation model (the reference's transformer_main.py).",
        discussion: """
            Reads DATA_DIR/*train* and DATA_DIR/*dev* TFRecord shards (from `nmt-prepare corpus`), \
            trains in iterations of steps or epochs, evaluates after each, and writes checkpoints to \
            MODEL_DIR. A run in a model directory that holds checkpoints resumes from the newest.

            Data-parallel training across processes and hosts is `mpirun -np N nmt-train-distributed` \
            with the same flags (it needs Open MPI; this program does not). See Documentation/Training.md.
            """)

    @OptionGroup var training: TrainingFlags
    /// Kept so that an old command line gets directions instead of "unknown option".
    @Flag(help: .hidden) var distributed = false

    func validate() throws {
        if distributed {
            throw ValidationError("data-parallel training is nmt-train-distributed: mpirun -np N nmt-train-distributed <the same flags>")
        }
        // mpirun starts N copies; each would train alone, into one model directory.
        if let size = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"].flatMap(Int.init), size > 1 {
            throw ValidationError(
                "nmt-train runs as one of \(size) mpirun processes, each of which would train alone; use mpirun -np \(size) nmt-train-distributed (or run nmt-train without mpirun)")
        }
    }

    func run() throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        if let threads = training.threads { ComputeThreads.count = threads }
        let device = try training.devices.makeDevice(batchTokens: training.batches.batchSize, maxLength: training.batches.maxLength)
        try training.train(on: device, logger: Logger(label: "nmt-train"))
    }
}
