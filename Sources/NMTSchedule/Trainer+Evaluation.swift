import Foundation
import NMTAccelerator
import NMTData
import NMTTensor
import NMTTransformer

extension Trainer {
    /// Evaluates on the dev set and, when a BLEU source is set, translates and scores it;
    /// logs and writes the results. With several processes, process 0 evaluates the dev
    /// loss and keeps the records, and every process translates its share of the BLEU
    /// source.
    ///
    /// - Returns: whether the BLEU threshold is reached or the patience used up (process
    ///   0's answer counts).
    func evaluate(afterIteration iteration: Int, _ run: TrainingRun) throws -> Bool {
        if coordinator.isPrimary {
            run.report.evaluation = try evaluate()
            logger.info("iteration \(iteration + 1), step \(step): \(Self.describe(run.report.evaluation))")
            try run.trainSummaries?.flush()
            try run.evalSummaries?.add(run.report.evaluation.mapValues { Float($0) }, step: step)
        }
        defer { try? run.evalSummaries?.flush() }
        guard let source = options.bleuSource, let reference = options.bleuReference else { return false }
        let (uncased, cased) = try bleu(source: source, reference: reference)
        guard coordinator.isPrimary else { return false }
        run.report.bleuUncased = uncased
        run.report.bleuCased = cased
        try run.evalSummaries?.add(["bleu/uncased": uncased, "bleu/cased": cased], step: step)
        logger.info("BLEU (uncased) \(uncased), (cased) \(cased)")
        if try recordBest(uncased: uncased, cased: cased, run) { return true }
        guard let threshold = options.bleuThreshold, uncased >= threshold else { return false }
        logger.info("BLEU threshold \(threshold) reached")
        return true
    }

    /// Keeps the checkpoint of a new best BLEU apart from the rolling ones, or counts one
    /// more evaluation without improvement.
    ///
    /// - Returns: whether the patience is used up.
    func recordBest(uncased: Float, cased: Float, _ run: TrainingRun) throws -> Bool {
        var best = try run.report.best ?? BestCheckpoint.read(in: options.modelDirectory)
        if best.map({ uncased > $0.bleuUncased }) ?? true {
            try writeCheckpoint()
            try Checkpoint.save(
                model: model, optimizer: optimizer, manifest: manifest, in: BestCheckpoint.directory(in: options.modelDirectory),
                keep: 1, movingAverage: movingAverage)
            best = BestCheckpoint(step: step, bleuUncased: uncased, bleuCased: cased, evaluationsWithoutImprovement: 0)
            logger.info("new best BLEU \(uncased) at step \(step), kept in \(BestCheckpoint.directoryName)")
        } else {
            best!.evaluationsWithoutImprovement += 1
        }
        try best!.write(in: options.modelDirectory)
        run.report.best = best
        guard let patience = options.patience, best!.evaluationsWithoutImprovement >= patience else { return false }
        logger.info(
            "stopping early: no BLEU above \(best!.bleuUncased) (step \(best!.step)) in \(patience) evaluations")
        run.report.stoppedEarly = true
        return true
    }

    /// The weights evaluation and translation use: the moving average when one is kept.
    public func evaluationModel() throws -> Transformer {
        try movingAverage?.applied(to: model) ?? model
    }

    /// Loss and metrics on the dev set (`*dev*` shards), with the device's metrics (of the
    /// moving average of the weights when one is kept).
    public func evaluate() throws -> [String: Double] {
        try Evaluation.run(
            model: evaluationModel(), filePattern: filePattern("*dev*"), batchTokens: options.batchTokens, maxLength: options.maxLength,
            staticBatches: options.staticBatches, device: device)
    }

    /// Uncased and cased BLEU (×100) of translating `source` against `reference` with
    /// ``translationOptions``, decoded on the training device (on a CPU device when the
    /// training device has static shapes and the options need dynamic ones, such as a
    /// Marian model's `generate()` search).
    ///
    /// With several processes (a device with a `ProcessGroup`) every process must call
    /// it: each translates a contiguous share of the lines, and all receive every
    /// translation.
    public func bleu(source: URL, reference: URL) throws -> (uncased: Float, cased: Float) {
        var translator = try Translator(model: evaluationModel(), tokenizer: tokenizer)
        translator.options = translationOptions
        let decodingDevice: Device =
            device.capabilities.requiresStaticShapes && !translationOptions.runsOnStaticShapes ? CPUDevice() : device
        let lines = try CorpusPreparer.lines(of: source)
        // Decoding's sizes change every step: the training capacity would only hold them back.
        let translations = try BufferPool.shared.withCapacity(BufferPool.defaultCapacityBytes) {
            try coordinator.translate(lines) { try translator.translate($0, on: decodingDevice) }
        }
        // Every line terminated: an empty last translation must stay a line of its own.
        let hypotheses = translations.map { $0 + "\n" }.joined()
        let referenceText = try TextLines.text(of: reference)
        return (
            try BLEU.corpusScore(reference: referenceText, translation: hypotheses, caseSensitive: false),
            try BLEU.corpusScore(reference: referenceText, translation: hypotheses, caseSensitive: true)
        )
    }

    static func describe(_ results: [String: Double]) -> String {
        results.keys.sorted().map { "\($0) = \(String(format: "%.4f", results[$0]!))" }.joined(separator: ", ")
    }
}
