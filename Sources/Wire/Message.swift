import Tensors

/// One protocol message: the envelope's header fields, its body, and its tensors (the frames
/// after the envelope). A value type; tensors share their storage, they are never copied.
public struct Message: Sendable {
    /// The sender's protocol version (`WireProtocol.version` for messages made here).
    public var protocolVersion: UInt32
    /// The job a message belongs to; empty outside a job (Hello, Welcome, Heartbeat, Echo, Shutdown).
    public var jobID: String
    /// Chosen by the coordinator; a reply carries its request's task id and attempt.
    public var taskID: UInt64
    public var attempt: UInt32
    public var body: Body
    /// Tensor frames in order; names are unique within a message.
    public var tensors: [NamedTensor]

    public init(
        _ body: Body, tensors: [NamedTensor] = [], jobID: String = "", taskID: UInt64 = 0, attempt: UInt32 = 0,
        protocolVersion: UInt32 = WireProtocol.version
    ) {
        self.protocolVersion = protocolVersion
        self.jobID = jobID
        self.taskID = taskID
        self.attempt = attempt
        self.body = body
        self.tensors = tensors
    }

    /// The message's type, from its body.
    public var type: MessageType { body.type }

    /// The tensor named `name`, if the message carries one.
    public func tensor(named name: String) -> Tensor? {
        tensors.first { $0.name == name }?.tensor
    }

    /// The tensor named `name`.
    /// - Throws: `WireError` (`.invalidArgument`) naming the message type, the tensor and the names present.
    public func requireTensor(named name: String) throws(WireError) -> Tensor {
        guard let tensor = tensor(named: name) else {
            throw WireError(.invalidArgument, "\(type) carries no tensor \"\(name)\"; it has [\(tensors.map(\.name).joined(separator: ", "))]")
        }
        return tensor
    }

    /// A short description for logs: type, job, task, attempt and frame count.
    public var summary: String {
        var text = "\(type)"
        if !jobID.isEmpty { text += " job \(jobID)" }
        if taskID != 0 || attempt != 0 { text += " task \(taskID) attempt \(attempt)" }
        if !tensors.isEmpty { text += " with \(tensors.count) tensor(s)" }
        return text
    }
}

/// A message body: exactly one of the protocol's messages.
public enum Body: Sendable, Equatable {
    case hello(Hello)
    case welcome(Welcome)
    case heartbeat(Heartbeat)
    case shutdown(Shutdown)
    case error(ErrorReport)
    case echo(Echo)
    case jobSpec(JobSpec)
    case jobAccepted(JobAccepted)
    case loadLayer(LoadLayer)
    case layerLoaded(LayerLoaded)
    case captureStats(CaptureStats)
    case statsReport(StatsReport)
    case solveRequest(SolveRequest)
    case solveResult(SolveResult)
    case applyLayer(ApplyLayer)
    case applied(Applied)
    case evaluate(Evaluate)
    case evaluated(Evaluated)
    case fold(Fold)
    case folded(Folded)
    case scaleSearch(ScaleSearchRequest)
    case scaleLosses(ScaleLossesReport)
    case finishJob(FinishJob)
    case jobSummary(JobSummary)

    /// The body's message type.
    public var type: MessageType {
        switch self {
        case .hello: .hello
        case .welcome: .welcome
        case .heartbeat: .heartbeat
        case .shutdown: .shutdown
        case .error: .error
        case .echo: .echo
        case .jobSpec: .jobSpec
        case .jobAccepted: .jobAccepted
        case .loadLayer: .loadLayer
        case .layerLoaded: .layerLoaded
        case .captureStats: .captureStats
        case .statsReport: .statsReport
        case .solveRequest: .solveRequest
        case .solveResult: .solveResult
        case .applyLayer: .applyLayer
        case .applied: .applied
        case .evaluate: .evaluate
        case .evaluated: .evaluated
        case .fold: .fold
        case .folded: .folded
        case .scaleSearch: .scaleSearch
        case .scaleLosses: .scaleLosses
        case .finishJob: .finishJob
        case .jobSummary: .jobSummary
        }
    }
}
