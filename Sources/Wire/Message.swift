import JobProtocol
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
    /// Tensor frames in order; names are unique within a message. A job request's or reply's
    /// are a function of its value (`WireCodec.frames(of:)`), made by `init`.
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
        switch body {
        case .request(let request):
            precondition(tensors.isEmpty, "a job request's frames come from its value")
            self.tensors = WireCodec.frames(of: request)
        case .reply(let reply):
            precondition(tensors.isEmpty, "a job reply's frames come from its value")
            self.tensors = WireCodec.frames(of: reply)
        default:
            self.tensors = tensors
        }
    }

    /// A decoded message: its frames as received (a job body was built from them).
    init(decoded body: Body, frames: [NamedTensor], jobID: String, taskID: UInt64, attempt: UInt32, protocolVersion: UInt32) {
        (self.body, self.tensors, self.jobID, self.taskID, self.attempt, self.protocolVersion) = (body, frames, jobID, taskID, attempt, protocolVersion)
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

/// A message body: exactly one of the protocol's messages. Job messages are the job protocol's
/// own values (`WorkerRequest`, `WorkerReply`): each case is one message of calibrate.proto.
public enum Body: Sendable, Equatable {
    case hello(Hello)
    case welcome(Welcome)
    case heartbeat(Heartbeat)
    case shutdown(Shutdown)
    case error(ErrorReport)
    case echo(Echo)
    case evaluate(Evaluate)
    case evaluated(Evaluated)
    case request(WorkerRequest)
    case reply(WorkerReply)

    /// The body's message type.
    public var type: MessageType {
        switch self {
        case .hello: .hello
        case .welcome: .welcome
        case .heartbeat: .heartbeat
        case .shutdown: .shutdown
        case .error: .error
        case .echo: .echo
        case .evaluate: .evaluate
        case .evaluated: .evaluated
        case .request(let request):
            switch request {
            case .start: .jobSpec
            case .loadLayer: .loadLayer
            case .capture: .captureStats
            case .fold: .fold
            case .evaluateScales: .scaleSearch
            case .solve: .solveRequest
            case .apply: .applyLayer
            case .finish: .finishJob
            case .rewind: .rewind
            case .adopt: .adopt
            case .replay: .replayLayer
            case .mergeAdopted: .mergeAdopted
            case .release: .release
            }
        case .reply(let reply):
            switch reply {
            case .started: .jobAccepted
            case .loaded: .layerLoaded
            case .folded: .folded
            case .losses: .scaleLosses
            case .statistics: .statsReport
            case .solved: .solveResult
            case .applied: .applied
            case .finished: .jobSummary
            case .rewound: .rewound
            case .adopted: .adopted
            case .replayed: .layerReplayed
            case .merged: .merged
            case .released: .released
            }
        }
    }
}
