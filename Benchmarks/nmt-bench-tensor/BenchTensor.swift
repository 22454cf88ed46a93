// Kernel benchmarks for NMTTensor: GFLOP/s of the Transformer's matrix products through
// our matmul path and through cblas_sgemm directly, and times of the softmax and
// layer-norm kernels. Prints one JSON object per line.
//
//   swift run -c release nmt-bench-tensor [--quick] [--blas-threads N] [--only matmul|int8|attention|rows]
import ArgumentParser
import CNMTBLAS
import CNMTKernels
import Foundation
import NMTTensor

@main
struct BenchTensor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt-bench-tensor", abstract: "Benchmark NMTTensor's kernels; one JSON object per line.")

    @Flag(help: "Measure each kernel for 0.2 s instead of 1 s.") var quick = false
    @Option(help: "BLAS threads; 1 splits large products across the cores in swift-nmt (the direct cblas column then shows single-threaded BLAS).")
    var blasThreads: Int?
    @Option(help: "Run one group only: matmul, int8, attention or rows.") var only: String?

    func validate() throws {
        if let blasThreads, blasThreads < 1 { throw ValidationError("--blas-threads must be at least 1") }
        if let only, !["matmul", "int8", "attention", "rows"].contains(only) {
            throw ValidationError("--only \(only): give matmul, int8, attention or rows")
        }
    }

    func run() throws {
        if let blasThreads { BLAS.threadCount = blasThreads }
        let minimumSeconds = quick ? 0.2 : 1.0
        emit(["benchmark": "environment", "blas": BLAS.implementation, "blas_threads": BLAS.threadCount ?? 1,
              "cores": ProcessInfo.processInfo.activeProcessorCount])

        // Dense products of the base model: [tokens, in] x [in, out] with 2048 tokens.
        func runs(_ group: String) -> Bool { only == nil || only == group }
        for (m, k, n) in [(2048, 512, 512), (2048, 512, 2048), (2048, 2048, 512), (2048, 512, 33708)] where runs("matmul") {
            let a = Tensor.randomNormal([m, k], key: RandomKey(seed: 1))
            let b = Tensor.randomNormal([k, n], key: RandomKey(seed: 2))
            let flops = 2.0 * Double(m * n * k)
            let ours = measure(minimumSeconds: minimumSeconds) { _ = a.matmul(b) }
            // Direct call on preallocated buffers: the floor our path is compared with.
            let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
            defer { c.deallocate() }
            let direct = a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    measure(minimumSeconds: minimumSeconds) {
                        cblas_sgemm(
                            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, pa.baseAddress, Int32(k),
                            pb.baseAddress, Int32(n), 0, c, Int32(n))
                    }
                }
            }
            emit(["benchmark": "matmul", "m": m, "k": k, "n": n,
                  "gflops": round3(flops / ours.best / 1e9), "gflops_median": round3(flops / ours.median / 1e9),
                  "cblas_gflops": round3(flops / direct.best / 1e9), "cblas_gflops_median": round3(flops / direct.median / 1e9),
                  "overhead_percent": round3((ours.best / direct.best - 1) * 100)])
        }

        // int8 against float on one core (as each translation batch runs): decoding-step
        // products of 128 rows (32 sentences × 4 beams), the main job's (hidden 64) and a
        // base model's (hidden 512); the weights quantized beforehand, the rows as it runs.
        for (m, k, n) in [(128, 64, 256), (128, 64, 8340), (128, 512, 512), (128, 512, 2048), (128, 512, 32000)] where runs("int8") {
            let a = Tensor.randomNormal([m, k], key: RandomKey(seed: 7))
            let b = Tensor.randomNormal([k, n], key: RandomKey(seed: 8))
            let quantized = try Int8Matrix(kernel: b)
            let flops = 2.0 * Double(m * n * k)
            let float = Parallel.serially { measure(minimumSeconds: minimumSeconds) { _ = a.matmul(b) } }
            let int8 = Parallel.serially { measure(minimumSeconds: minimumSeconds) { _ = Tensor.matmul(a, int8: quantized) } }
            emit(["benchmark": "int8_matmul", "m": m, "k": k, "n": n, "int8_width": Int(nmt_int8_width()),
                  "float_gflops": round3(flops / float.median / 1e9), "int8_gops": round3(flops / int8.median / 1e9),
                  "speedup": round3(float.median / int8.median)])
        }

        // Per-head attention products: batch 32, 8 heads of depth 64, length 64 (Q·Kᵀ and W·V),
        // read from unsplit [B, L, 512] projections through leading dimensions.
        if runs("attention") {
            let (batch, heads, length, depth) = (32, 8, 64, 64)
            let q = Tensor.randomNormal([batch, length, heads * depth], key: RandomKey(seed: 3))
            let k = Tensor.randomNormal([batch, length, heads * depth], key: RandomKey(seed: 4))
            let flops = 2.0 * Double(batch * heads * length * length * depth)
            let scores = measure(minimumSeconds: minimumSeconds) { _ = Tensor.multiHeadScores(queries: q, keys: k, heads: heads) }
            let weights = Tensor.multiHeadScores(queries: q, keys: k, heads: heads).softmax()
            let combine = measure(minimumSeconds: minimumSeconds) { _ = Tensor.multiHeadCombine(weights: weights, values: k) }
            emit(["benchmark": "multi_head_products", "batch": batch, "heads": heads, "length": length, "depth": depth,
                  "scores_gflops": round3(flops / scores.best / 1e9), "combine_gflops": round3(flops / combine.best / 1e9)])
        }

        // Row kernels on the two shapes the model uses most.
        for shape in [[2048, 512], [8 * 32, 64, 64]] where runs("rows") {
            let x = Tensor.randomNormal(shape, key: RandomKey(seed: 5))
            let width = shape.last!
            let scale = Tensor.ones([width]), bias = Tensor.zeros([width])
            let g = Tensor.randomNormal(shape, key: RandomKey(seed: 6))
            let softmax = measure(minimumSeconds: minimumSeconds) { _ = x.softmax() }
            let logSoftmax = measure(minimumSeconds: minimumSeconds) { _ = x.logSoftmax() }
            let layerNorm = measure(minimumSeconds: minimumSeconds) { _ = x.layerNormalized(scale: scale, bias: bias) }
            let backward = measure(minimumSeconds: minimumSeconds) {
                _ = valueAndGradient(at: [x, scale, bias]) { p in (p[0].layerNormalized(scale: p[1], bias: p[2]) * g).sum() }
            }
            emit(["benchmark": "row_kernels", "shape": shape,
                  "softmax_ms": round3(softmax.best * 1e3), "log_softmax_ms": round3(logSoftmax.best * 1e3),
                  "layer_norm_ms": round3(layerNorm.best * 1e3),
                  "layer_norm_forward_backward_ms": round3(backward.best * 1e3)])
        }
    }
}

/// Runs `body` once to warm up, then repeatedly for at least `minimumSeconds` (and at
/// least 3 times); returns the best and the median time in seconds.
func measure(minimumSeconds: Double, _ body: () -> Void) -> (best: Double, median: Double) {
    body()
    var times: [Double] = []
    let start = DispatchTime.now().uptimeNanoseconds
    while times.count < 3 || Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < minimumSeconds {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        if times.count >= 200 { break }
    }
    times.sort()
    return (times[0], times[times.count / 2])
}

func emit(_ fields: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

