/// Session messages: handshake, liveness, diagnostics, errors and shutdown. Their fields mirror
/// Protocols/calibrate.proto; see the comments there for the meaning on the wire.

/// Coordinator → worker, the first message of a session (frozen layout: decodes in any version).
public struct Hello: Sendable, Equatable {
    /// Who is asking, for the worker's log.
    public var coordinator: String
    /// How often the worker must send heartbeats, in milliseconds (≥ 1).
    public var heartbeatIntervalMilliseconds: UInt32
    /// Silence after which the worker ends the session, in milliseconds (≥ the interval).
    public var heartbeatTimeoutMilliseconds: UInt32

    public init(coordinator: String, heartbeatIntervalMilliseconds: UInt32, heartbeatTimeoutMilliseconds: UInt32) {
        self.coordinator = coordinator
        self.heartbeatIntervalMilliseconds = heartbeatIntervalMilliseconds
        self.heartbeatTimeoutMilliseconds = heartbeatTimeoutMilliseconds
    }
}

/// What a worker offers.
public struct Capabilities: Sendable, Equatable {
    public var cores: Int
    public var memoryBytes: UInt64
    /// "cpu" today.
    public var deviceKind: String
    /// Compute threads the worker uses (`--threads`).
    public var threads: Int
    public var hostname: String
    public var pid: Int

    public init(cores: Int, memoryBytes: UInt64, deviceKind: String, threads: Int, hostname: String, pid: Int) {
        self.cores = cores
        self.memoryBytes = memoryBytes
        self.deviceKind = deviceKind
        self.threads = threads
        self.hostname = hostname
        self.pid = pid
    }
}

/// Worker → coordinator: the handshake is accepted (frozen layout: decodes in any version).
public struct Welcome: Sendable, Equatable {
    public var capabilities: Capabilities
    /// The worker's own description (its listen endpoint).
    public var worker: String

    public init(capabilities: Capabilities, worker: String) {
        self.capabilities = capabilities
        self.worker = worker
    }
}

/// Both ways, every heartbeat interval; any message counts as a sign of life, this one says only that.
public struct Heartbeat: Sendable, Equatable {
    public var sequence: UInt64

    public init(sequence: UInt64) { self.sequence = sequence }
}

/// Coordinator → worker: end the session, and the worker process when `exitProcess` is set.
public struct Shutdown: Sendable, Equatable {
    public var reason: String
    public var exitProcess: Bool

    public init(reason: String, exitProcess: Bool) {
        self.reason = reason
        self.exitProcess = exitProcess
    }
}

/// Either way: a request failed, or a message was refused (frozen layout: decodes in any version).
public struct ErrorReport: Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    /// The layer the failure concerns, if any.
    public var layer: Int?
    /// The tensor the failure concerns, if any.
    public var tensor: String?

    public init(code: ErrorCode, message: String, layer: Int? = nil, tensor: String? = nil) {
        self.code = code
        self.message = message
        self.layer = layer
        self.tensor = tensor
    }

    public var description: String {
        var text = "\(code): \(message)"
        if let layer { text += " (layer \(layer))" }
        if let tensor { text += " (tensor \(tensor))" }
        return text
    }
}

/// Both ways: a diagnostic round trip. The worker's server loop returns it as received, frames
/// included (`coordinator ping`, `calibrate-bench wire`).
public struct Echo: Sendable, Equatable {
    public var note: String

    public init(note: String = "") { self.note = note }
}

/// Coordinator → worker: a diagnostic evaluation named by `kind` (`DiagnosticHandler`: sum, echo,
/// fail, sleep; for `coordinator ping` and tests), with scalar `parameters` and tensors as frames.
public struct Evaluate: Sendable, Equatable {
    public var kind: String
    public var layer: Int?
    public var parameters: [Double]

    public init(kind: String, layer: Int? = nil, parameters: [Double] = []) {
        self.kind = kind
        self.layer = layer
        self.parameters = parameters
    }
}

/// Worker → coordinator: an evaluation's scalar results (tensors as frames).
public struct Evaluated: Sendable, Equatable {
    public var kind: String
    public var values: [Double]

    public init(kind: String, values: [Double] = []) {
        self.kind = kind
        self.values = values
    }
}
