extension Duration {
    /// The duration in seconds, as a Double (what rates and reports divide by).
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
