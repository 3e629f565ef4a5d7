extension WorkerRequest {
    /// A request's case without its values, named as the job's phases are (`start`, `load`, …):
    /// the one place that names a request for people (fault specs, tests), apart from the wire's
    /// message types.
    public enum Kind: String, Sendable, CaseIterable {
        case start, load, capture, fold, search, solve, apply, finish, rewind, adopt, replay, merge, release

        /// Whether requests of this kind name a layer (`start`, `finish`, `adopt` and `merge` do not).
        public var hasLayer: Bool { ![.start, .finish, .adopt, .merge, .release].contains(self) }
    }

    /// This request's kind.
    public var kind: Kind {
        switch self {
        case .start: .start
        case .loadLayer: .load
        case .capture: .capture
        case .fold: .fold
        case .evaluateScales: .search
        case .solve: .solve
        case .apply: .apply
        case .finish: .finish
        case .rewind: .rewind
        case .adopt: .adopt
        case .replay: .replay
        case .mergeAdopted: .merge
        case .release: .release
        }
    }

    /// The layer this request is about; nil for the kinds without one (`Kind.hasLayer`).
    public var layer: Int? {
        switch self {
        case .loadLayer(let index, _): index
        case .capture(let layer, _), .fold(let layer, _), .apply(let layer, _, _), .rewind(let layer): layer
        case .evaluateScales(let search): search.layer
        case .solve(let task): task.layer
        case .replay(let replay): replay.layer
        case .start, .finish, .adopt, .mergeAdopted, .release: nil
        }
    }
}
