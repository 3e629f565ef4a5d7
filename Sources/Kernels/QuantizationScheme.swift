import Tensors

/// How a weight matrix is quantized: integer width, symmetry, grouping along the input dimension,
/// and the format its scales are stored in.
///
/// Conventions are those of compressed-tensors (`calculate_qparams`, `quantize`, `dequantize`),
/// which loads our output; they coincide with the GPTQ reference's unsigned ones shifted by 2^(b−1):
///   codes q are signed, q ∈ [qmin, qmax] = [−2^(b−1), 2^(b−1) − 1]
///   symmetric:  s = max(|min x|, |max x|) / ((2^b − 1) / 2),  z = 0
///   asymmetric: s = (max(x, 0) − min(x, 0)) / (2^b − 1),  z = round(clamp(qmin − min(x, 0) / s, qmin, qmax))
///   quantize:   q = clamp(round(x / s + z), qmin, qmax)      (round half to even, Float arithmetic)
///   dequantize: x̂ = (q − z) · s
/// GPTQ v1's unsigned code is q + 2^(b−1) and its zero point z + 2^(b−1).
public struct QuantizationScheme: Sendable, Hashable {
    /// Bits per code, 2…8.
    public let bits: Int
    /// Symmetric (zero point 0) or asymmetric.
    public let symmetric: Bool
    /// Input columns sharing one scale (a divisor of the input dimension), or −1 for one scale per
    /// output channel.
    public let groupSize: Int
    /// The format scales are stored in; they are rounded to it before use, so that the codes are
    /// optimal for the scales a loader will read.
    public let scaleFormat: ScaleFormat

    /// - Throws: `KernelError.invalidArgument` for bits outside 2…8 or a group size that is neither
    ///   −1 nor positive.
    public init(bits: Int, symmetric: Bool, groupSize: Int, scaleFormat: ScaleFormat = .float32) throws(KernelError) {
        guard (2...8).contains(bits) else {
            throw KernelError(.invalidArgument, "quantization: bits must be 2…8, found \(bits)")
        }
        guard groupSize == -1 || groupSize > 0 else {
            throw KernelError(.invalidArgument, "quantization: group size must be −1 (per channel) or positive, found \(groupSize)")
        }
        self.bits = bits
        self.symmetric = symmetric
        self.groupSize = groupSize
        self.scaleFormat = scaleFormat
    }

    /// The smallest code, −2^(b−1).
    public var codeMin: Int { -(1 << (bits - 1)) }
    /// The largest code, 2^(b−1) − 1.
    public var codeMax: Int { (1 << (bits - 1)) - 1 }

    /// The columns per group for a matrix with `columns` input columns (all of them per channel).
    /// - Throws: `KernelError.invalidArgument` when the group size does not divide `columns`.
    public func groupLength(columns: Int) throws(KernelError) -> Int {
        guard columns > 0 else { throw KernelError(.invalidArgument, "quantization: a matrix needs at least one input column") }
        if groupSize == -1 { return columns }
        guard columns % groupSize == 0 else {
            throw KernelError(.invalidArgument, "quantization: group size \(groupSize) does not divide the input dimension \(columns)")
        }
        return groupSize
    }

    /// The number of groups (scales per output row) for `columns` input columns.
    public func groupCount(columns: Int) throws(KernelError) -> Int {
        columns / (try groupLength(columns: columns))
    }
}

/// The stored format of scales.
public enum ScaleFormat: String, Sendable, Hashable, CaseIterable {
    case float32, float16, bfloat16

    /// `value` rounded to this format (nearest, ties to even), as a Float.
    @inlinable
    public func rounded(_ value: Float) -> Float {
        switch self {
        case .float32: value
        case .float16: Float(Float16(value))
        case .bfloat16: Float(bitPattern: UInt32(HalfConversion.bfloat16Bits(value)) << 16)
        }
    }

    /// The scale used when a group is all zeros: the format's machine epsilon, as
    /// compressed-tensors does (`torch.finfo(dtype).eps`), so that no scale is 0.
    public var epsilon: Float {
        switch self {
        case .float32: Float.ulpOfOne
        case .float16: 0x1p-10
        case .bfloat16: 0x1p-7
        }
    }
}

/// The MSE clipping search of the GPTQ reference (`quant.py`, `mse=True`): shrink the range by
/// p = 1 − i/grid for i in 0..<⌊maxShrink·grid⌋ and keep the p with the smallest error
/// Σ_k w_k (x_k − x̂_k)², where w_k = diag(H)_k when a Hessian is at hand and 1 otherwise.
///
/// The exponent is 2 rather than the reference's 2.4: with the Hessian's diagonal as weights the
/// objective is the diagonal part of GPTQ's own loss tr((W − Q) H (W − Q)ᵀ), which is quadratic.
/// Ties keep the smaller shrink (the first candidate), so p = 1 wins unless clipping helps.
public struct ClippingSearch: Sendable, Hashable {
    public let grid: Int
    public let maxShrink: Double

    /// - Throws: `KernelError.invalidArgument` unless grid ≥ 1 and 0 < maxShrink ≤ 1.
    public init(grid: Int = 100, maxShrink: Double = 0.8) throws(KernelError) {
        guard grid >= 1, maxShrink > 0, maxShrink <= 1 else {
            throw KernelError(.invalidArgument, "clipping search: need grid ≥ 1 and 0 < maxShrink ≤ 1, found grid \(grid), maxShrink \(maxShrink)")
        }
        self.grid = grid
        self.maxShrink = maxShrink
    }

    /// The number of shrink factors tried (at least 1: p = 1).
    public var candidates: Int { max(1, Int((maxShrink * Double(grid)).rounded(.down))) }

    /// The i-th shrink factor, 1 − i/grid, rounded to Float.
    public func shrink(_ i: Int) -> Float { Float(1.0 - Double(i) / Double(grid)) }
}
