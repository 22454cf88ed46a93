import CNMTKernels
/// SIMD transcendental functions for the element-wise and softmax kernels.
///
/// The standard library's `exp` is scalar; these evaluate 8 lanes at once using only
/// arithmetic, bit casts and `replacing(with:where:)` (the stdlib's `rounded()`,
/// `clamped` and `pointwiseMin/Max` are scalarized and slow, see TOOLCHAIN.md).
enum VectorMath {
    typealias F8 = SIMD8<Float>

    /// Whether `nmt_exp` and `nmt_row_max` (CNMTKernels) run vector code on this CPU
    /// (AVX-512, not turned off by `nmt_kernels_limit_vector_bits`); they give this file's
    /// floats, so callers may use them instead of the Swift loops. Read per call: tests
    /// lower the limit at run time.
    static var hasExactVectorKernels: Bool { nmt_kernels_vector_bits() >= 512 }

    /// e^x with relative error of a few ulp for x in [-86.9, 88.37]; larger inputs give
    /// +inf and smaller ones 0 (the exact results there are within 1% of the largest
    /// float or below 2e-38, which no kernel of ours can tell apart).
    @inline(__always)
    static func exp(_ x: F8) -> F8 {
        let overflow = x .> 88.3762626
        let underflow = x .< -86.9
        let xc = x.replacing(with: 0, where: overflow .| underflow)
        // n = round(x / ln 2) via the 1.5 * 2^23 magic number (round-to-nearest-even).
        let magic: Float = 12582912
        let shifted = xc * 1.44269504088896341 + magic
        let n = shifted - magic
        // The integer n sits in the low mantissa bits of `shifted` (|n| < 2^22).
        let integerN = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
        // r = x - n ln 2, with ln 2 split in two parts so that r is exact enough.
        var r = xc - n * 0.693359375
        r = r - n * -2.12194440e-4
        // Minimax polynomial for e^r on [-ln2/2, ln2/2] (Cephes expf coefficients).
        var p: F8 = F8(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * (r * r) + r + 1
        // Scale by 2^n by adding n to the exponent bits.
        let bits = unsafeBitCast(p, to: SIMD8<Int32>.self) &+ (integerN &<< 23)
        var result = unsafeBitCast(bits, to: F8.self)
        result.replace(with: .infinity, where: overflow)
        result.replace(with: 0, where: underflow)
        return result
    }
}
