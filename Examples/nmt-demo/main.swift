// nmt-demo: fits a two-layer network to y = sin(3x) with NMTTensor's autodiff and a
// hand-written Adam update, printing the loss as it falls. The first runnable program of
// swift-nmt; the Transformer trainer replaces it as the main job in a later release.
//
//   swift run -c release nmt-demo [--steps N] [--hidden N] [--seed N]
import Foundation
import NMT

struct Options {
    var steps = 2000
    var hidden = 64
    var seed: UInt64 = 1

    /// Parses `--steps N --hidden N --seed N`; returns an error message for anything else.
    static func parse(_ arguments: [String]) -> Result<Options, OptionsError> {
        var options = Options()
        var index = 0
        while index < arguments.count {
            let flag = arguments[index]
            if flag == "--help" || flag == "-h" { return .failure(OptionsError(message: nil)) }
            guard index + 1 < arguments.count else { return .failure(OptionsError(message: "\(flag) needs a value")) }
            let value = arguments[index + 1]
            switch flag {
            case "--steps":
                guard let n = Int(value), (1...10_000_000).contains(n) else {
                    return .failure(OptionsError(message: "--steps wants an integer in 1...10000000, got '\(value)'"))
                }
                options.steps = n
            case "--hidden":
                // A two-layer fit of sin(3x) with [1, hidden] and [hidden, 1] weights: 4,096 is far past useful.
                guard let n = Int(value), (1...4_096).contains(n) else {
                    return .failure(OptionsError(message: "--hidden wants an integer in 1...4096, got '\(value)'"))
                }
                options.hidden = n
            case "--seed":
                guard let n = UInt64(value) else { return .failure(OptionsError(message: "--seed wants a non-negative integer, got '\(value)'")) }
                options.seed = n
            default:
                return .failure(OptionsError(message: "unknown option '\(flag)'"))
            }
            index += 2
        }
        return .success(options)
    }
}

struct OptionsError: Error {
    let message: String?
}

let usage = """
    usage: nmt-demo [--steps N] [--hidden N] [--seed N]

    Fits y = sin(3x) on [-1, 1] with a two-layer ReLU network (1 -> hidden -> 1) trained
    by Adam on NMTTensor's reverse-mode autodiff, and prints the mean squared error.
      --steps N    training steps (default 2000)
      --hidden N   hidden units (default 64)
      --seed N     initialization seed (default 1)
    """

let options: Options
switch Options.parse(Array(CommandLine.arguments.dropFirst())) {
case .success(let parsed): options = parsed
case .failure(let error):
    if let message = error.message {
        FileHandle.standardError.write(Data("nmt-demo: \(message)\n\n\(usage)\n".utf8))
        exit(2)
    }
    print(usage)
    exit(0)
}

print("BLAS: \(BLAS.implementation)")
let samples = 256
let x = Tensor(shape: [samples, 1], scalars: (0..<samples).map { Float($0) / Float(samples - 1) * 2 - 1 })
let y = Tensor(shape: [samples, 1], scalars: x.scalars.map { Foundation.sin(3 * $0) })

let key = RandomKey(seed: options.seed)
var parameters: [String: Tensor] = [
    "layer1.kernel": Initializer.varianceScalingUniform(gain: 2)([1, options.hidden], key: key.split(1)),
    "layer1.bias": Tensor.zeros([options.hidden]),
    "layer2.kernel": Initializer.varianceScalingUniform(gain: 1)([options.hidden, 1], key: key.split(2)),
    "layer2.bias": Tensor.zeros([1]),
]

// Any of the library's optimizers fits this network; Adam with Kingma & Ba's constants.
var optimizer = Adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
let learningRate: Float = 0.01

let start = Date()
var loss: Float = .nan
for step in 1...options.steps {
    let (value, gradients) = valueAndGradient(of: parameters) { p in
        let hidden = (x.matmul(p["layer1.kernel"]!) + p["layer1.bias"]!).relu()
        return ((hidden.matmul(p["layer2.kernel"]!) + p["layer2.bias"]!) - y).squared().mean()
    }
    loss = value.scalar
    optimizer.update(&parameters, along: gradients, learningRate: learningRate)
    if step == 1 || step % 250 == 0 || step == options.steps {
        print(String(format: "step %5d  mse %.6f", step, loss))
    }
}
let seconds = Date().timeIntervalSince(start)
print(String(format: "trained %d steps in %.2f s (%.0f steps/s); final mse %.6f", options.steps, seconds,
             Double(options.steps) / seconds, loss))
// The variance of sin(3x) on [-1, 1] is about 0.48; a fitted network should explain
// almost all of it.
if loss > 0.01 {
    FileHandle.standardError.write(Data("nmt-demo: the fit did not converge (mse \(loss) > 0.01)\n".utf8))
    exit(1)
}
