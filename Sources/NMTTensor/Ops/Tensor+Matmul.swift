// Matrix products on BLAS, including the per-head products of multi-head attention.

extension Tensor {
    /// Launches one (batched) GEMM writing a fresh tensor of `outShape`; no gradient.
    /// Attention products (`smallRows`) skip BLAS for few rows when nothing is differentiated:
    /// the decoding steps' attention (see ``MatmulKernels/smallRowsProduct(_:_:_:_:)``);
    /// training keeps BLAS's floats.
    static func gemm(_ name: StaticString, _ a: Tensor, _ b: Tensor, outShape: [Int], _ d: GemmDescriptor, smallRows: Bool = false)
        -> Tensor
    {
        let tape = GradientTape.common([a, b], op: name)
        var d = d
        d.allowsSmallRowsKernel = smallRows && tape == nil
        let out = Tensor(uninitializedShape: outShape, tape: tape)
        KernelDispatch.run(
            KernelLaunch(name, inputs: [a.buffer, b.buffer], outputs: [out.buffer]) { args in
                MatmulKernels.gemm(d, args.input(0), args.input(1), args.output(0))
            }, on: tape)
        return out
    }

    /// The matrix product op(a) · op(b), where op transposes the last two axes when asked
    /// (through BLAS flags; nothing is transposed in memory).
    ///
    /// - `a` [..., M, K] and `b` [K, N]: the leading axes of `a` are batch rows.
    /// - `a` [batch..., M, K] and `b` [batch..., K, N] with equal batch axes: one product per
    ///   batch entry.
    /// Shapes are given before the transposes.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank >= 2 && b.rank >= 2, "matmul: operands need rank >= 2, got \(a.shape) and \(b.shape)")
        if b.rank == 2 && a.rank > 2 && !transposeA {
            let rows = a.shape.dropLast().reduce(1, *)
            let flat = matmul(a.reshaped(to: [rows, a.shape.last!]), b, transposeB: transposeB)
            return flat.reshaped(to: a.shape.dropLast() + [flat.shape[1]])
        }
        precondition(
            a.rank == b.rank && a.shape.dropLast(2) == b.shape.dropLast(2),
            "matmul: batch dimensions of \(a.shape) and \(b.shape) differ")
        let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        let (m, k) = transposeA ? (ac, ar) : (ar, ac)
        let (k2, n) = transposeB ? (bc, br) : (br, bc)
        precondition(
            k == k2,
            "matmul: inner dimensions differ: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
        let batch = a.shape.dropLast(2).reduce(1, *)
        var d = GemmDescriptor(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
        d.batch = (batch, 1)
        d.strideA = (ar * ac, 0)
        d.strideB = (br * bc, 0)
        d.strideC = (m * n, 0)
        let out = gemm("matmul", a, b, outShape: a.shape.dropLast(2) + [m, n], d)
        return out.withGradient(of: [a, b]) { g in
            switch (transposeA, transposeB) {
            case (false, false): return [matmul(g, b, transposeB: true), matmul(a, g, transposeA: true)]
            case (false, true): return [matmul(g, b), matmul(g, a, transposeA: true)]
            case (true, false): return [matmul(b, g, transposeB: true), matmul(a, g)]
            case (true, true):
                return [matmul(b, g, transposeA: true, transposeB: true), matmul(g, a, transposeA: true, transposeB: true)]
            }
        }
    }

    /// `a · op(b) + bias` for `a` [M, K], `b` [K, N] (or [N, K] with `transposeB`) and a row
    /// `bias` [N] added to every row, with the bias in BLAS's accumulator: the output
    /// starts as copies of the bias and the product adds to it (beta 1), one pass over the
    /// [M, N] result fewer than adding afterwards. For wide outputs (a decoder's logits
    /// over a large vocabulary) that pass is a noticeable part of each decoding step.
    ///
    /// The floats may differ in the last bit from `matmul(a, b) + bias`: the bias joins
    /// the sum before BLAS's last block of K rather than after it.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool = false, addingRow bias: Tensor) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2 && bias.rank == 1, "matmul(addingRow:): needs [M, K], a matrix and [N]; got \(a.shape), \(b.shape), \(bias.shape)")
        let (m, k) = (a.shape[0], a.shape[1])
        let (k2, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        precondition(k == k2 && bias.shape[0] == n, "matmul(addingRow:): \(a.shape) · \(b.shape)\(transposeB ? "ᵀ" : "") + \(bias.shape)")
        var d = GemmDescriptor(m: m, n: n, k: k, transposeA: false, transposeB: transposeB)
        d.beta = 1
        let tape = GradientTape.common([a, b, bias], op: "matmul_bias")
        let out = Tensor(uninitializedShape: [m, n], tape: tape)
        KernelDispatch.run(
            KernelLaunch("matmul_bias", inputs: [a.buffer, b.buffer, bias.buffer], outputs: [out.buffer]) { args in
                let (row, c) = (args.input(2), args.output(0))
                for r in 0..<m { (c + r * n).update(from: row, count: n) }
                MatmulKernels.gemm(d, args.input(0), args.input(1), c)
            }, on: tape)
        return out.withGradient(of: [a, b, bias]) { g in
            [
                matmul(g, b, transposeB: !transposeB),
                transposeB ? matmul(g, a, transposeA: true) : matmul(a, g, transposeA: true),
                g.unbroadcast(to: bias.shape),
            ]
        }
    }

    /// The matrix product self · other (see ``matmul(_:_:transposeA:transposeB:)``).
    public func matmul(_ other: Tensor, transposeOther: Bool = false) -> Tensor {
        Tensor.matmul(self, other, transposeB: transposeOther)
    }

    /// Attention logits of every head, read directly from unsplit projections.
    ///
    /// Head h of `queries` is columns `h*d..<(h+1)*d` of each row; the result is
    /// `scores[b, h] = Q[b, :, head h] · K[b, :, head h]ᵀ`, computed by strided GEMMs
    /// without materializing the [B, N, L, d] split.
    ///
    /// - Parameters:
    ///   - q: the queries [B, Lq, N*d].
    ///   - k: the keys [B, Lk, N*d].
    ///   - heads: N; must divide the last dimension.
    ///   - scale: multiplies every score, inside the product (BLAS's alpha), and the
    ///     gradients likewise. A power of two gives exactly the floats of scaling the
    ///     queries first, without the pass over them.
    /// - Returns: [B, N, Lq, Lk].
    public static func multiHeadScores(queries q: Tensor, keys k: Tensor, heads: Int, scale: Float = 1) -> Tensor {
        precondition(
            q.rank == 3 && k.rank == 3 && q.shape[0] == k.shape[0] && q.shape[2] == k.shape[2]
                && heads > 0 && q.shape[2] % heads == 0,
            "multiHeadScores: queries \(q.shape), keys \(k.shape) and \(heads) heads are incompatible")
        let (b, lq, lk, hidden) = (q.shape[0], q.shape[1], k.shape[1], q.shape[2])
        let depth = hidden / heads
        let scoresLayout = (outer: heads * lq * lk, inner: lq * lk)
        var d = GemmDescriptor(m: lq, n: lk, k: depth, transposeA: false, transposeB: true)
        (d.lda, d.ldb, d.ldc) = (hidden, hidden, lk)
        d.batch = (b, heads)
        d.strideA = (lq * hidden, depth)
        d.strideB = (lk * hidden, depth)
        d.strideC = scoresLayout
        d.alpha = scale
        let out = gemm("mha_scores", q, k, outShape: [b, heads, lq, lk], d, smallRows: true)
        return out.withGradient(of: [q, k]) { g in
            // dQ_h = scale · dS_h · K_h
            var dq = GemmDescriptor(m: lq, n: depth, k: lk, transposeA: false, transposeB: false)
            (dq.lda, dq.ldb, dq.ldc) = (lk, hidden, hidden)
            dq.batch = (b, heads)
            (dq.strideA, dq.strideB, dq.strideC) = (scoresLayout, (lk * hidden, depth), (lq * hidden, depth))
            dq.alpha = scale
            // dK_h = scale · dS_hᵀ · Q_h
            var dk = GemmDescriptor(m: lk, n: depth, k: lq, transposeA: true, transposeB: false)
            (dk.lda, dk.ldb, dk.ldc) = (lk, hidden, hidden)
            dk.batch = (b, heads)
            (dk.strideA, dk.strideB, dk.strideC) = (scoresLayout, (lq * hidden, depth), (lk * hidden, depth))
            dk.alpha = scale
            return [gemm("mha_scores_grad_q", g, k, outShape: q.shape, dq),
                    gemm("mha_scores_grad_k", g, q, outShape: k.shape, dk)]
        }
    }

    /// ``multiHeadScores(queries:keys:heads:scale:)`` with the keys stored transposed, for
    /// keys that many queries meet (an encoder's, at every decoding step): head h of entry
    /// b is the [d, Lk] block of rows `h·d..<(h+1)·d` of `kt[b]`, so each score reads the
    /// keys along whole rows. Each score is the same dot product over the head's depth;
    /// with few query rows (see `MatmulKernels.smallRowsProduct`) the same floats as the
    /// untransposed keys' product.
    ///
    /// For decoding only: nothing is differentiated.
    ///
    /// - Parameters:
    ///   - q: the queries [B, Lq, N·d].
    ///   - kt: the keys transposed, [B, N·d, Lk].
    ///   - heads: N; must divide the last dimension of `q`.
    ///   - scale: multiplies every score, inside the product.
    /// - Returns: [B, N, Lq, Lk].
    public static func multiHeadScores(queries q: Tensor, transposedKeys kt: Tensor, heads: Int, scale: Float = 1) -> Tensor {
        precondition(
            q.rank == 3 && kt.rank == 3 && q.shape[0] == kt.shape[0] && q.shape[2] == kt.shape[1] && heads > 0
                && q.shape[2] % heads == 0 && q.tape == nil && kt.tape == nil,
            "multiHeadScores(transposedKeys:): queries \(q.shape), transposed keys \(kt.shape) and \(heads) heads, outside differentiation")
        let (b, lq, hidden, lk) = (q.shape[0], q.shape[1], q.shape[2], kt.shape[2])
        let depth = hidden / heads
        var d = GemmDescriptor(m: lq, n: lk, k: depth, transposeA: false, transposeB: false)
        (d.lda, d.ldb, d.ldc) = (hidden, lk, lk)
        d.batch = (b, heads)
        d.strideA = (lq * hidden, depth)
        d.strideB = (hidden * lk, depth * lk)
        d.strideC = (heads * lq * lk, lq * lk)
        d.alpha = scale
        return gemm("mha_scores_transposed", q, kt, outShape: [b, heads, lq, lk], d, smallRows: true)
    }

    /// Attention outputs of every head, written directly into combined rows.
    ///
    /// `result[b, :, head h] = weights[b, h] · V[b, :, head h]`, the inverse layout of
    /// ``multiHeadScores(queries:keys:heads:scale:)``.
    ///
    /// - Parameters:
    ///   - w: the attention probabilities [B, N, Lq, Lk].
    ///   - v: the values [B, Lk, N*d].
    /// - Returns: [B, Lq, N*d].
    public static func multiHeadCombine(weights w: Tensor, values v: Tensor) -> Tensor {
        precondition(
            w.rank == 4 && v.rank == 3 && w.shape[0] == v.shape[0] && w.shape[3] == v.shape[1]
                && v.shape[2] % w.shape[1] == 0,
            "multiHeadCombine: weights \(w.shape) and values \(v.shape) are incompatible")
        let (b, heads, lq, lk, hidden) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3], v.shape[2])
        let depth = hidden / heads
        let weightsLayout = (outer: heads * lq * lk, inner: lq * lk)
        var d = GemmDescriptor(m: lq, n: depth, k: lk, transposeA: false, transposeB: false)
        (d.lda, d.ldb, d.ldc) = (lk, hidden, hidden)
        d.batch = (b, heads)
        (d.strideA, d.strideB, d.strideC) = (weightsLayout, (lk * hidden, depth), (lq * hidden, depth))
        let out = gemm("mha_combine", w, v, outShape: [b, lq, hidden], d, smallRows: true)
        return out.withGradient(of: [w, v]) { g in
            // dW_h = dO_h · V_hᵀ
            var dw = GemmDescriptor(m: lq, n: lk, k: depth, transposeA: false, transposeB: true)
            (dw.lda, dw.ldb, dw.ldc) = (hidden, hidden, lk)
            dw.batch = (b, heads)
            (dw.strideA, dw.strideB, dw.strideC) = ((lq * hidden, depth), (lk * hidden, depth), weightsLayout)
            // dV_h = W_hᵀ · dO_h
            var dv = GemmDescriptor(m: lk, n: depth, k: lq, transposeA: true, transposeB: false)
            (dv.lda, dv.ldb, dv.ldc) = (lk, hidden, hidden)
            dv.batch = (b, heads)
            (dv.strideA, dv.strideB, dv.strideC) = (weightsLayout, (lq * hidden, depth), (lk * hidden, depth))
            return [gemm("mha_combine_grad_w", g, v, outShape: w.shape, dw),
                    gemm("mha_combine_grad_v", w, g, outShape: v.shape, dv)]
        }
    }
}
