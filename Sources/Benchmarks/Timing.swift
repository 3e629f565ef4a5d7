#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock seconds from a monotonic clock.
func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
}

/// The fastest of `repetitions` runs of `body`, in seconds. `body` gets the repetition number so
/// that it can vary its input (an optimizer must not hoist a pure call out of the loop).
func fastest(of repetitions: Int, _ body: (Int) -> Void) -> Double {
    var best = Double.infinity
    for repetition in 0..<repetitions {
        let start = now()
        body(repetition)
        best = min(best, now() - start)
    }
    return best
}

/// `value` with `digits` decimals.
func format(_ value: Double, _ digits: Int = 2) -> String {
    if digits == 0 { return value.isFinite ? String(Int(value.rounded())) : String(value) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = String(rounded)
    if let dot = text.firstIndex(of: ".") {
        let decimals = text.distance(from: dot, to: text.endIndex) - 1
        if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
    } else if digits > 0 {
        text += "." + String(repeating: "0", count: digits)
    }
    return text
}

/// `text` padded with spaces on the right to `width` characters.
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
