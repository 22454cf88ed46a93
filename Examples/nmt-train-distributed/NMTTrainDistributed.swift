// nmt-train-distributed: nmt-train as one of the processes `mpirun -np N` starts, each
// training its share of every batch (data parallelism over Open MPI).
import ArgumentParser
import Foundation
import Logging
import NMT
import NMTCommandLine
import NMTDistributed

@main
struct NMTTrainDistributed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-train-distributed",
        abstract: "Train a Transformer across processes: run it under `mpirun -np N` with nmt-train's flags.",
        discussion: """
            Each of the N processes (on one host or across a hostfile's hosts) takes 1/N of every \
            batch of --batch-size tokens; every process must see the same data and vocabulary. \
            Rank 0 writes the model directory and sends the others its checkpoint, evaluates and \
            logs; the others report only trouble. See Documentation/Training.md.
            """)

    @OptionGroup var training: TrainingFlags
    @Option(help: "Seconds a process waits for the others at an exchange before the job ends with an error naming the missing ranks.")
    var collectiveTimeout: Double = Communicator.defaultTimeoutSeconds

    func validate() throws {
        try requireRange(collectiveTimeout, 1...86_400, flag: "--collective-timeout")
    }

    func run() throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let communicator = try Communicator(timeoutSeconds: collectiveTimeout)
        do {
            let device = try makeDevice(communicator)
            var logger = Logger(label: "nmt-train")
            logger.info(
                "rank \(communicator.rank) of \(communicator.size) processes on \(communicator.hostName), \(ComputeThreads.count) threads each")
            if !communicator.isPrimary { logger.logLevel = .warning }
            let report = try training.train(on: device, logger: logger)
            if device.exchanges > 0 {
                let perStep = device.exchangeSeconds / Double(device.exchanges)
                logger.info(
                    "gradient exchange: \(String(format: "%.2f", perStep * 1000)) ms per step, \(String(format: "%.1f", 100 * device.exchangeSeconds / report.trainingSeconds)) % of the training time (transfer and waiting for the slower process)")
            }
            try communicator.finalize()
        } catch {
            // The other processes would wait for this one forever: end the whole job.
            FileHandle.standardError.write(
                Data("nmt-train-distributed: rank \(communicator.rank) of \(communicator.size) on \(communicator.hostName): \(error)\n".utf8))
            communicator.abort(code: 1)
        }
    }

    /// This process's share of a data-parallel job: its part of each batch on a local
    /// device, whole batches for evaluation and translation.
    func makeDevice(_ communicator: Communicator) throws -> DataParallelDevice {
        if let threads = training.threads {
            ComputeThreads.count = threads
        } else {
            // mpirun binds each process to its cores; unbound processes share the host.
            ComputeThreads.count = max(1, min(ComputeThreads.available, ProcessInfo.processInfo.activeProcessorCount / communicator.localSize))
        }
        let (batchSize, maxLength) = (training.batches.batchSize, training.batches.maxLength)
        let shards = training.devices.shards ?? 1
        let local: any Device
        switch training.devices.device {
        case .cpu: local = CPUDevice()
        case .static:
            let sentences = batchSize / maxLength
            guard sentences % (communicator.size * shards) == 0 else {
                throw ValidationError(
                    "a static batch of \(sentences) sentences (--batch-size \(batchSize) / --max-length \(maxLength)) does not divide across \(communicator.size) processes × \(shards) shards")
            }
            local = try StaticShardedDevice(shards: shards, batchTokens: sentences / communicator.size * maxLength, maxLength: maxLength)
        }
        let inference = try training.devices.makeDevice(batchTokens: batchSize, maxLength: maxLength)
        return try DataParallelDevice(local: local, inference: inference, group: communicator)
    }
}
