/// A quantized weight matrix: integer codes plus per-(row, group) scales and zero points, and the
/// group of every input column. The common result of RTN and GPTQ, and the input of the packers.
///
/// Layout (N = `rows`, output features; K = `columns`, input features; G = `groupCount`):
///   codes      N×K signed codes in [qmin, qmax], row-major, original column order
///   scales     N×G, row-major
///   zeroPoints N×G signed zero points (all 0 when symmetric)
///   groupIndex K, the group of each input column (`g_idx`); k / groupLength unless GPTQ ran with
///              act-order and dynamic groups
/// Dequantization: W[n, k] = (codes[n, k] − zeroPoints[n, g]) · scales[n, g] with g = groupIndex[k].
public struct QuantizedWeights: Sendable, Equatable {
    public let scheme: QuantizationScheme
    public let rows: Int
    public let columns: Int
    public var codes: [Int8]
    public var scales: [Float]
    public var zeroPoints: [Int8]
    public var groupIndex: [Int32]

    /// Wraps the arrays after checking their sizes and ranges.
    /// - Throws: `KernelError.invalidArgument` naming the array that does not fit.
    public init(
        scheme: QuantizationScheme, rows: Int, columns: Int, codes: [Int8], scales: [Float], zeroPoints: [Int8],
        groupIndex: [Int32]
    ) throws(KernelError) {
        let groups = try scheme.groupCount(columns: columns)
        func check(_ ok: Bool, _ what: @autoclosure () -> String) throws(KernelError) {
            if !ok { throw KernelError(.invalidArgument, "quantized weights \(rows)×\(columns): \(what())") }
        }
        try check(rows >= 0, "negative row count")
        try check(codes.count == rows * columns, "\(codes.count) codes, expected \(rows * columns)")
        try check(scales.count == rows * groups, "\(scales.count) scales, expected \(rows * groups)")
        try check(zeroPoints.count == rows * groups, "\(zeroPoints.count) zero points, expected \(rows * groups)")
        try check(groupIndex.count == columns, "g_idx has \(groupIndex.count) entries, expected \(columns)")
        let (low, high) = (Int8(scheme.codeMin), Int8(scheme.codeMax))
        try check(codes.allSatisfy { $0 >= low && $0 <= high }, "a code lies outside [\(low), \(high)]")
        try check(zeroPoints.allSatisfy { $0 >= low && $0 <= high }, "a zero point lies outside [\(low), \(high)]")
        try check(!scheme.symmetric || zeroPoints.allSatisfy { $0 == 0 }, "a symmetric scheme has a nonzero zero point")
        try check(groupIndex.allSatisfy { $0 >= 0 && Int($0) < groups }, "a g_idx entry lies outside 0..<\(groups)")
        try check(scales.allSatisfy { $0.isFinite && $0 > 0 }, "a scale is not finite and positive")
        self.scheme = scheme
        self.rows = rows
        self.columns = columns
        self.codes = codes
        self.scales = scales
        self.zeroPoints = zeroPoints
        self.groupIndex = groupIndex
    }

    /// The arrays as they are, for kernels that produce them valid by construction.
    init(unchecked scheme: QuantizationScheme, rows: Int, columns: Int, codes: [Int8], scales: [Float], zeroPoints: [Int8], groupIndex: [Int32]) {
        self.scheme = scheme
        self.rows = rows
        self.columns = columns
        self.codes = codes
        self.scales = scales
        self.zeroPoints = zeroPoints
        self.groupIndex = groupIndex
    }

    /// Scales (and zero points) per row. Cannot throw: both initializers' callers checked that the
    /// scheme's group size divides `columns` (the checked one itself, GPTQ/RTN before solving).
    public var groupCount: Int { try! scheme.groupCount(columns: columns) }

    /// Whether `groupIndex[k] == k / groupLength` for every k (no g_idx needs storing).
    public var hasTrivialGroupIndex: Bool {
        let length = columns / groupCount
        return groupIndex.indices.allSatisfy { Int(groupIndex[$0]) == $0 / length }
    }

    /// The trivial group index k / groupLength for `columns` columns.
    public static func trivialGroupIndex(columns: Int, groupLength: Int) -> [Int32] {
        (0..<columns).map { Int32($0 / groupLength) }
    }

    /// The weights a loader reconstructs: (q − z) · s per element, in Float.
    public func dequantized() -> Matrix {
        let groups = groupCount
        var result = Matrix(rows: rows, columns: columns)
        result.values.withUnsafeMutableBufferPointer { out in
            for n in 0..<rows {
                for k in 0..<columns {
                    let g = n * groups + Int(groupIndex[k])
                    let parameters = GroupParameters(scale: scales[g], zero: Float(zeroPoints[g]))
                    out[n * columns + k] = parameters.dequantized(Float(codes[n * columns + k]))
                }
            }
        }
        return result
    }

    /// Rows `range` of these weights (same scheme and group index).
    public func rows(_ range: Range<Int>) -> QuantizedWeights {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) of \(rows)")
        let groups = groupCount
        return QuantizedWeights(
            unchecked: scheme, rows: range.count, columns: columns,
            codes: Array(codes[(range.lowerBound * columns)..<(range.upperBound * columns)]),
            scales: Array(scales[(range.lowerBound * groups)..<(range.upperBound * groups)]),
            zeroPoints: Array(zeroPoints[(range.lowerBound * groups)..<(range.upperBound * groups)]),
            groupIndex: groupIndex)
    }
}
