/// A fault to inject into a real worker or coordinator process, for tests of lost workers and
/// coordinator restarts on real processes (the hidden `--fault` option of both executables;
/// docs/ARCHITECTURE.md, "Fault injection"). Written `ACTION:PHASE:LAYER`, e.g. `kill:capture:1`:
/// do ACTION just before the first request of kind PHASE about layer LAYER (`*`: any layer; the
/// kinds without a layer take only `*`). This type only parses and matches; each executable
/// performs the action its own way.
public struct FaultSpec: Sendable, Equatable, CustomStringConvertible {
    public enum Action: String, Sendable, CaseIterable {
        /// SIGKILL on itself.
        case kill
        /// SIGSTOP on itself: hung, silent until SIGCONT.
        case stop
        /// Exit with status 3, without a reply.
        case exit
    }

    public var action: Action
    public var phase: WorkerRequest.Kind
    /// nil: any layer.
    public var layer: Int?

    public init(action: Action, phase: WorkerRequest.Kind, layer: Int? = nil) {
        self.action = action
        self.phase = phase
        self.layer = layer
    }

    /// Parses `ACTION:PHASE:LAYER`.
    /// - Parameters:
    ///   - option: the option the text came from, for error messages.
    ///   - actions: the actions this process can perform.
    /// - Throws: `FaultSpecError` naming the option, the text and the part that is wrong.
    public init(parsing text: String, option: String = "--fault", actions: [Action] = Action.allCases) throws(FaultSpecError) {
        func fail(_ reason: String) -> FaultSpecError { FaultSpecError(description: "\(option) \(text): \(reason)") }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else { throw fail("expected ACTION:PHASE:LAYER, e.g. kill:capture:1") }
        guard let action = Action(rawValue: parts[0]), actions.contains(action) else {
            let what = Action(rawValue: parts[0]) == nil ? "unknown action '\(parts[0])'" : "action '\(parts[0])' is not available here"
            throw fail("\(what) (expected \(Self.list(actions.map(\.rawValue))))")
        }
        guard let phase = WorkerRequest.Kind(rawValue: parts[1]) else {
            throw fail("unknown phase '\(parts[1])' (expected \(Self.list(WorkerRequest.Kind.allCases.map(\.rawValue))))")
        }
        var layer: Int?
        if parts[2] != "*" {
            guard phase.hasLayer else { throw fail("phase \(phase.rawValue) has no layer: give '*', found '\(parts[2])'") }
            guard let number = Int(parts[2]), number >= 0 else { throw fail("layer '\(parts[2])' is neither a layer number (0, 1, …) nor '*'") }
            layer = number
        }
        self.init(action: action, phase: phase, layer: layer)
    }

    /// Whether `request` is of this spec's phase and, unless any layer will do, about its layer.
    public func matches(_ request: WorkerRequest) -> Bool {
        request.kind == phase && (layer == nil || request.layer == layer)
    }

    public var description: String { "\(action.rawValue):\(phase.rawValue):\(layer.map(String.init) ?? "*")" }

    /// "a, b or c".
    private static func list(_ names: [String]) -> String {
        names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
    }
}

/// A `--fault` text that does not parse; the description says which part is wrong.
public struct FaultSpecError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
