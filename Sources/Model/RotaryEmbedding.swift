import Foundation
import ModelConfiguration

/// Rotary position embeddings (Su et al. 2021) in transformers' "rotate half" convention: a head
/// vector x of d values is split into halves (x₁, x₂), and position p rotates pair i (x₁[i], x₂[i])
/// by the angle p·fᵢ: y₁ = x₁·cos − x₂·sin, y₂ = x₂·cos + x₁·sin.
///
/// The frequencies are fᵢ = θ^(−2i/d), i < d/2, optionally rescaled as Llama 3.1 does (see
/// `frequencies(_:)`). The cos/sin table is computed in Double and rounded once to Float, which is
/// at least as precise as transformers' float32 table.
struct RotaryEmbedding {
    let headDim: Int
    let positions: Int
    /// positions × headDim/2 values each.
    private let cosines: [Float]
    private let sines: [Float]

    /// The table for positions 0 ..< `positions`.
    init(config: ModelConfig, positions: Int) {
        let frequencies = Self.frequencies(config)
        let half = config.headDim / 2
        var cosines = [Float](repeating: 0, count: positions * half)
        var sines = [Float](repeating: 0, count: positions * half)
        for p in 0..<positions {
            for i in 0..<half {
                let angle = Double(p) * frequencies[i]
                cosines[p * half + i] = Float(cos(angle))
                sines[p * half + i] = Float(sin(angle))
            }
        }
        headDim = config.headDim
        self.positions = positions
        self.cosines = cosines
        self.sines = sines
    }

    /// The inverse frequencies θ^(−2i/d) of the config's head dimension, with Llama 3.1's scaling
    /// when the config asks for it: with wavelength λ = 2π/f and the original context length N,
    /// λ < N/high_freq_factor keeps f; λ > N/low_freq_factor gives f/factor; in between,
    /// s = (N/λ − low)/(high − low) and f ← (1 − s)·f/factor + s·f.
    static func frequencies(_ config: ModelConfig) -> [Double] {
        let d = config.headDim
        let base = (0..<(d / 2)).map { 1 / pow(config.ropeTheta, Double(2 * $0) / Double(d)) }
        guard case let .llama3(factor, low, high, original) = config.ropeScaling else { return base }
        let lowWavelength = Double(original) / low
        let highWavelength = Double(original) / high
        return base.map { f in
            let wavelength = 2 * Double.pi / f
            if wavelength < highWavelength { return f }
            if wavelength > lowWavelength { return f / factor }
            let smooth = (Double(original) / wavelength - low) / (high - low)
            return (1 - smooth) * f / factor + smooth * f
        }
    }

    /// Rotates `heads` head vectors of every row in place; row r is at position `firstPosition + r`.
    /// - Parameters:
    ///   - x: `rows` rows with row stride `ld`, each holding `heads` × headDim values.
    func apply(rows: Int, heads: Int, x: UnsafeMutablePointer<Float>, ld: Int, firstPosition: Int) {
        precondition(firstPosition + rows <= positions, "RoPE table of \(positions) positions used up to \(firstPosition + rows)")
        let half = headDim / 2
        cosines.withUnsafeBufferPointer { cosTable in
            sines.withUnsafeBufferPointer { sinTable in
                for r in 0..<rows {
                    let c = cosTable.baseAddress! + (firstPosition + r) * half
                    let s = sinTable.baseAddress! + (firstPosition + r) * half
                    for h in 0..<heads {
                        let x1 = x + r * ld + h * headDim
                        let x2 = x1 + half
                        for i in 0..<half {
                            let (a, b) = (x1[i], x2[i])
                            x1[i] = a * c[i] - b * s[i]
                            x2[i] = b * c[i] + a * s[i]
                        }
                    }
                }
            }
        }
    }
}
