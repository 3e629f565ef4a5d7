import Wire

/// What a worker does with job requests. The server loop (`WorkerServer`) answers Hello,
/// Heartbeat, Echo and Shutdown itself, checks sessions and job ids, and hands every job request
/// (a `.request` body, or Evaluate) to its handler, one at
/// a time, in arrival order.
///
/// Requests run on Swift's cooperative pool: long computations belong on threads of their own
/// (or must at least not occupy every pool thread), so that heartbeats keep flowing meanwhile.
public protocol WorkerHandler: Sendable {
    /// Handles one job request.
    /// - Parameter request: the validated message: body, tensors, job id, task id, attempt.
    /// - Returns: the reply; its body must have `request.type.replyType` (a `.request` is answered
    ///   by the `.reply` of the same case, Evaluate by Evaluated).
    /// - Throws: anything; a `WireErrorConvertible` error is reported with its code, layer and
    ///   tensor, any other as `.internal` with its description. The session continues.
    func handle(_ request: Message) async throws -> HandlerReply

    /// The session ended (Shutdown, the coordinator went silent, or it was dropped): release the
    /// job's state. Called after the last `handle` of the session has returned.
    func sessionEnded(reason: String) async
}

/// A handler's answer: a body and its tensors (a job reply's come from its value).
public struct HandlerReply: Sendable {
    public var body: Body
    public var tensors: [NamedTensor]

    public init(_ body: Body, tensors: [NamedTensor] = []) {
        self.body = body
        self.tensors = tensors
    }
}
