// nmt-demo: fits a two-layer network to y = sin(3x) with NMTTensor's autodiff and the
// library's Adam, printing the loss as it falls: the smallest program of swift-nmt.
//
//   swift run -c release nmt-demo [--steps N] [--hidden N] [--seed N]
import ArgumentParser
import Foundation
import NMT
import NMTCommandLine

@main
struct NMTDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-demo",
        abstract: "Fit y = sin(3x) on [-1, 1] with a two-layer ReLU network trained by Adam on NMTTensor's autodiff.",
        discussion: "Prints the mean squared error as it falls, and exits non-zero when the fit does not converge.")

    @Option(help: "Training steps.") var steps = 2000
    // A two-layer fit of sin(3x) with [1, hidden] and [hidden, 1] weights: 4,096 is far past useful.
    @Option(help: "Hidden units (1...4096).") var hidden = 64
    @Option(help: "Initialization seed.") var seed: UInt64 = 1

    func validate() throws {
        try requireRange(steps, 1...10_000_000, flag: "--steps")
        try requireRange(hidden, 1...4_096, flag: "--hidden")
    }

    func run() throws {
        print("BLAS: \(BLAS.implementation)")
        let samples = 256
        let x = Tensor(shape: [samples, 1], scalars: (0..<samples).map { Float($0) / Float(samples - 1) * 2 - 1 })
        let y = Tensor(shape: [samples, 1], scalars: x.scalars.map { Foundation.sin(3 * $0) })
        let key = RandomKey(seed: seed)
        var parameters: [String: Tensor] = [
            "layer1.kernel": Initializer.varianceScalingUniform(gain: 2)([1, hidden], key: key.split(1)),
            "layer1.bias": Tensor.zeros([hidden]),
            "layer2.kernel": Initializer.varianceScalingUniform(gain: 1)([hidden, 1], key: key.split(2)),
            "layer2.bias": Tensor.zeros([1]),
        ]
        // Any of the library's optimizers fits this network; Adam with Kingma & Ba's constants.
        var optimizer = Adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        let learningRate: Float = 0.01
        let start = Date()
        var loss: Float = .nan
        for step in 1...steps {
            let (value, gradients) = valueAndGradient(of: parameters) { p in
                let hidden = (x.matmul(p["layer1.kernel"]!) + p["layer1.bias"]!).relu()
                return ((hidden.matmul(p["layer2.kernel"]!) + p["layer2.bias"]!) - y).squared().mean()
            }
            loss = value.scalar
            optimizer.update(&parameters, along: gradients, learningRate: learningRate)
            if step == 1 || step % 250 == 0 || step == steps { print(String(format: "step %5d  mse %.6f", step, loss)) }
        }
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "trained %d steps in %.2f s (%.0f steps/s); final mse %.6f", steps, seconds, Double(steps) / seconds, loss))
        // The variance of sin(3x) on [-1, 1] is about 0.48; a fitted network explains almost all of it.
        if loss > 0.01 { throw NotConverged(loss: loss) }
    }
}

/// The fit ended with an error too large to call it fitted.
struct NotConverged: Error, CustomStringConvertible {
    let loss: Float
    var description: String { "the fit did not converge (mse \(loss) > 0.01)" }
}
