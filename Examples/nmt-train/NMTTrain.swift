// nmt-train: trains a Transformer on TFRecord shards prepared by nmt-prepare, evaluating
// on the dev shards after each iteration and optionally scoring BLEU; resumes from the
// newest checkpoint in the model directory.
import ArgumentParser
import Foundation
import Logging
import NMT
import NMTCommandLine
import NMTDistributed

@main
struct NMTTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-train",
        abstract: "Train a Transformer translation model (the reference's transformer_main.py).",
        discussion: """
            Reads DATA_DIR/*train* and DATA_DIR/*dev* TFRecord shards (from `nmt-prepare corpus`), \
            trains in iterations of steps or epochs, evaluates after each, and writes checkpoints to \
            MODEL_DIR. A run in a model directory that holds checkpoints resumes from the newest.

            Data-parallel training: `mpirun -np N nmt-train --distributed ...` runs N processes (on one \
            host or across a hostfile's hosts) that share each batch of --batch-size tokens; every \
            process must see the same data and vocabulary (rank 0 writes the model directory and sends \
            the others its checkpoint). See Documentation/Training.md.
            """)

    @Option(help: "Reference parameter set: tiny, base or big.") var paramSet: String = "tiny"
    @Option(help: "A JSON TransformerConfiguration file (overrides --param-set).") var config: String?
    @Option(help: "Folder of the TFRecord shards.") var dataDir: String
    @OptionGroup var model: ModelOptions
    @OptionGroup var devices: DeviceOptions
    @Option(help: "Optimizer: adam, lazyadam (the reference's; equal to adam for this model), adamw or adafactor.")
    var optimizer: OptimizerKind = .adam
    @Option(help: "AdamW's decoupled weight decay (fraction of a weight removed per unit of learning rate).")
    var weightDecay: Float = AdamW.defaultWeightDecay
    @Option(help: "Total training steps (step basis; exclusive with --train-epochs).") var trainSteps: Int?
    @Option(help: "Steps per train/evaluate iteration.") var stepsBetweenEvals: Int = 1000
    @Option(help: "Training epochs (epoch basis; default 10 when no steps are given).") var trainEpochs: Int?
    @Option(help: "Epochs per train/evaluate iteration.") var epochsBetweenEvals: Int = 1
    @Option(help: "Tokens per batch.") var batchSize: Int = 2048
    @Option(help: "Longest example kept (tokens, EOS included).") var maxLength: Int = 256
    @Flag(help: "Static [batch/max-length, max-length] batches.") var staticBatch = false
    @Option(help: "Base learning rate of the warmup/rsqrt schedule.") var learningRate: Float = 2.0
    @Option(help: "Warmup steps of the schedule.") var warmupSteps: Int = 16000
    @Option(help: "Source file to translate for BLEU after each evaluation.") var bleuSource: String?
    @Option(help: "Reference translations of --bleu-source.") var bleuRef: String?
    @Option(help: "Stop once uncased BLEU reaches this.") var stopThreshold: Float?
    @Option(help: "Stop after this many BLEU evaluations without a new best (needs --bleu-source); the best is kept in MODEL_DIR/checkpoint-best.")
    var patience: Int?
    @Option(help: "Steps per device call; the static device keeps weights in its memory for the loop.") var iterationsPerLoop: Int = 1
    @Option(help: "Batches per update (gradient accumulation: K batches train as one K-times larger batch; CPU device).")
    var accumulate: Int = 1
    @Option(help: "Keep an exponential moving average of the weights with this decay (e.g. 0.999); evaluation and translation use it.")
    var emaDecay: Float?
    @Option(help: "Seed of initialization, data order and dropout.") var seed: UInt64 = 1
    @Option(help: "Stop training after this many seconds (then evaluate and save).") var maxSeconds: Double?
    @Option(help: "Save a checkpoint every this many steps.") var checkpointEvery: Int = 1000
    @Flag(inversion: .prefixedNo, help: "Continue from the newest checkpoint in --model-dir (--no-resume refuses a directory with checkpoints).")
    var resume = true
    @Flag(help: "Train as one of the processes `mpirun -np N` starts: each takes 1/N of every batch (see Documentation/Training.md).")
    var distributed = false
    @Option(help: "Threads the kernels use (default: the cores this process may run on; with --distributed, its share of the host's).")
    var threads: Int?
    @Option(help: "With --distributed: seconds a process waits for the others at an exchange before the job ends with an error naming the missing ranks.")
    var collectiveTimeout: Double = Communicator.defaultTimeoutSeconds

    func validate() throws {
        if trainSteps != nil && trainEpochs != nil { throw ValidationError("--train-steps and --train-epochs are mutually exclusive") }
        if (bleuSource == nil) != (bleuRef == nil) { throw ValidationError("--bleu-source and --bleu-ref go together") }
        if iterationsPerLoop < 1 { throw ValidationError("--iterations-per-loop must be at least 1") }
        if accumulate < 1 { throw ValidationError("--accumulate must be at least 1, not \(accumulate)") }
        try requireRange(threads, FlagBounds.threads, flag: "--threads")
        try requireRange(collectiveTimeout, 1...86_400, flag: "--collective-timeout")
        // mpirun starts N copies; without --distributed each would train alone, into one
        // model directory.
        if !distributed, let size = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"].flatMap(Int.init), size > 1 {
            throw ValidationError("nmt-train runs as one of \(size) mpirun processes without --distributed; add --distributed (or run it without mpirun)")
        }
        if stepsBetweenEvals < 1 || epochsBetweenEvals < 1 {
            throw ValidationError("--steps-between-evals and --epochs-between-evals must be at least 1")
        }
        if config == nil && TransformerConfiguration.preset(named: paramSet) == nil {
            throw ValidationError("--param-set must be tiny, base or big, not '\(paramSet)'")
        }
        try requireExisting(dataDir, flag: "--data-dir")
        // Every number the run depends on, checked before anything is loaded or logged.
        do { try options.validate() } catch { throw ValidationError("\(error)") }
    }

    /// The training options the flags describe.
    var options: TrainingOptions {
        var options = TrainingOptions(
            dataDirectory: URL(fileURLWithPath: dataDir), modelDirectory: model.modelDirectory,
            vocabularyFile: model.vocabularyFile)
        options.optimizer = optimizer
        options.weightDecay = weightDecay
        options.trainSteps = trainSteps
        options.stepsBetweenEvals = stepsBetweenEvals
        options.trainEpochs = trainEpochs
        options.epochsBetweenEvals = epochsBetweenEvals
        options.batchTokens = batchSize
        options.maxLength = maxLength
        options.staticBatches = staticBatch || devices.isStatic
        options.learningRate = learningRate
        options.warmupSteps = warmupSteps
        options.bleuSource = bleuSource.map { URL(fileURLWithPath: $0) }
        options.bleuReference = bleuRef.map { URL(fileURLWithPath: $0) }
        options.bleuThreshold = stopThreshold
        options.patience = patience
        options.seed = seed
        options.maximumSeconds = maxSeconds
        options.checkpointEvery = checkpointEvery
        options.iterationsPerLoop = iterationsPerLoop
        options.accumulationSteps = accumulate
        options.emaDecay = emaDecay
        options.resume = resume
        return options
    }

    func run() throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        if let threads { ComputeThreads.count = threads }
        guard distributed else { return try train(device: devices.makeDevice(batchTokens: batchSize, maxLength: maxLength)) }
        let communicator = try Communicator(timeoutSeconds: collectiveTimeout)
        do {
            try train(device: makeDataParallelDevice(communicator))
            try communicator.finalize()
        } catch {
            // The other processes would wait for this one forever: end the whole job.
            FileHandle.standardError.write(Data("nmt-train: rank \(communicator.rank) of \(communicator.size) on \(communicator.hostName): \(error)\n".utf8))
            communicator.abort(code: 1)
        }
    }

    /// This process's share of a data-parallel job: its part of each batch on a local
    /// device, whole batches for evaluation and translation.
    func makeDataParallelDevice(_ communicator: Communicator) throws -> DataParallelDevice {
        if threads == nil {
            // mpirun binds each process to its cores; unbound processes share the host.
            ComputeThreads.count = max(1, min(ComputeThreads.available, ProcessInfo.processInfo.activeProcessorCount / communicator.localSize))
        }
        let shards = devices.shards ?? 1
        let local: any DataParallelReplica
        switch devices.device {
        case .cpu: local = CPUDevice()
        case .static:
            let sentences = batchSize / maxLength
            guard sentences % (communicator.size * shards) == 0 else {
                throw ValidationError(
                    "a static batch of \(sentences) sentences (--batch-size \(batchSize) / --max-length \(maxLength)) does not divide across \(communicator.size) processes × \(shards) shards")
            }
            local = try StaticShardedDevice(shards: shards, batchTokens: sentences / communicator.size * maxLength, maxLength: maxLength)
        }
        let inference = try devices.makeDevice(batchTokens: batchSize, maxLength: maxLength)
        return try DataParallelDevice(local: local, inference: inference, group: communicator)
    }

    /// Trains on `device`, reporting the run's speed and scores.
    func train(device: Device) throws {
        var logger = Logger(label: "nmt-train")
        if let group = device.processGroup {
            let host = (group as? Communicator).map { " on \($0.hostName)" } ?? ""
            logger.info("rank \(group.rank) of \(group.size) processes\(host), \(ComputeThreads.count) threads each")
            if !group.isPrimary { logger.logLevel = .warning }
        }
        let configuration: TransformerConfiguration
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else { throw ValidationError("cannot read --config \(config)") }
            configuration = try JSONDecoder().decode(TransformerConfiguration.self, from: data)
        } else {
            configuration = TransformerConfiguration.preset(named: paramSet)!
        }
        logger.info("BLAS: \(BLAS.implementation)")
        let trainer = try Trainer(options: options, configuration: configuration, device: device, logger: logger)
        let report = try trainer.run()
        let seconds = report.trainingSeconds
        logger.info(
            "\(report.stepsThisRun) steps in \(String(format: "%.0f", seconds)) s: \(String(format: "%.2f", Double(report.stepsThisRun) / seconds)) steps/s, \(String(format: "%.0f", Double(report.targetTokens) / seconds)) target tokens/s; final loss \(report.finalLoss)")
        if let device = device as? DataParallelDevice, device.exchanges > 0 {
            let perStep = device.exchangeSeconds / Double(device.exchanges)
            logger.info(
                "gradient exchange: \(String(format: "%.2f", perStep * 1000)) ms per step, \(String(format: "%.1f", 100 * device.exchangeSeconds / seconds)) % of the training time (transfer and waiting for the slower process)")
        }
        if let uncased = report.bleuUncased, let cased = report.bleuCased {
            logger.info("BLEU uncased \(String(format: "%.2f", uncased)), cased \(String(format: "%.2f", cased))")
        }
    }
}
