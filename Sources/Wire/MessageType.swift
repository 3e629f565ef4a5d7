/// The kind of a message: the number of the `Envelope.body` field that carries it.
public enum MessageType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case hello = 11
    case welcome = 12
    case heartbeat = 13
    case shutdown = 14
    case error = 15
    case echo = 16
    case jobSpec = 20
    case jobAccepted = 21
    case loadLayer = 22
    case layerLoaded = 23
    case captureStats = 24
    case statsReport = 25
    case solveRequest = 26
    case solveResult = 27
    case applyLayer = 28
    case applied = 29
    case evaluate = 30
    case evaluated = 31
    case fold = 32
    case folded = 33
    case scaleSearch = 34
    case scaleLosses = 35
    case finishJob = 36
    case jobSummary = 37
    case rewind = 38
    case rewound = 39
    case adopt = 40
    case adopted = 41
    case replayLayer = 42
    case layerReplayed = 43
    case mergeAdopted = 44
    case merged = 45
    case release = 46
    case released = 47

    public var description: String {
        switch self {
        case .hello: "Hello"
        case .welcome: "Welcome"
        case .heartbeat: "Heartbeat"
        case .shutdown: "Shutdown"
        case .error: "Error"
        case .echo: "Echo"
        case .jobSpec: "JobSpec"
        case .jobAccepted: "JobAccepted"
        case .loadLayer: "LoadLayer"
        case .layerLoaded: "LayerLoaded"
        case .captureStats: "CaptureStats"
        case .statsReport: "StatsReport"
        case .solveRequest: "SolveRequest"
        case .solveResult: "SolveResult"
        case .applyLayer: "ApplyLayer"
        case .applied: "Applied"
        case .evaluate: "Evaluate"
        case .evaluated: "Evaluated"
        case .fold: "Fold"
        case .folded: "Folded"
        case .scaleSearch: "ScaleSearch"
        case .scaleLosses: "ScaleLosses"
        case .finishJob: "FinishJob"
        case .jobSummary: "JobSummary"
        case .rewind: "Rewind"
        case .rewound: "Rewound"
        case .adopt: "Adopt"
        case .adopted: "Adopted"
        case .replayLayer: "ReplayLayer"
        case .layerReplayed: "LayerReplayed"
        case .mergeAdopted: "MergeAdopted"
        case .merged: "Merged"
        case .release: "Release"
        case .released: "Released"
        }
    }

    /// The reply a worker owes for a request of this type (an `Error` may come instead);
    /// nil for messages that are not requests.
    public var replyType: MessageType? {
        switch self {
        case .hello: .welcome
        case .echo: .echo
        case .jobSpec: .jobAccepted
        case .loadLayer: .layerLoaded
        case .captureStats: .statsReport
        case .solveRequest: .solveResult
        case .applyLayer: .applied
        case .evaluate: .evaluated
        case .fold: .folded
        case .scaleSearch: .scaleLosses
        case .finishJob: .jobSummary
        case .rewind: .rewound
        case .adopt: .adopted
        case .replayLayer: .layerReplayed
        case .mergeAdopted: .merged
        case .release: .released
        default: nil
        }
    }

    /// Requests a worker hands to its job handler (everything that needs a job).
    public var isJobRequest: Bool {
        switch self {
        case .jobSpec, .loadLayer, .captureStats, .solveRequest, .applyLayer, .evaluate, .fold, .scaleSearch, .finishJob,
             .rewind, .adopt, .replayLayer, .mergeAdopted, .release: true
        default: false
        }
    }

    /// Messages a coordinator may send to a worker.
    public var isSentByCoordinator: Bool {
        switch self {
        case .hello, .heartbeat, .shutdown, .error, .echo: true
        default: isJobRequest
        }
    }

    /// Messages a worker may send to a coordinator.
    public var isSentByWorker: Bool {
        switch self {
        case .welcome, .heartbeat, .error, .echo, .jobAccepted, .layerLoaded, .statsReport, .solveResult, .applied, .evaluated,
             .folded, .scaleLosses, .jobSummary, .rewound, .adopted, .layerReplayed, .merged, .released: true
        default: false
        }
    }
}
