import CoordinatorCore

/// The job's workers and how to let them go.
struct JobWorkers {
    var connections: [any WorkerConnection]
    var shutdown: () async -> Void
}

extension WorkerOptions {
    /// Workers for a calibration job: in process, local processes, or the hosts file's.
    func connectJobWorkers() async throws -> JobWorkers {
        if let inProcessWorkers {
            return JobWorkers(connections: (0..<inProcessWorkers).map { InProcessWorker(index: $0) }, shutdown: {})
        }
        throw JobError("worker processes over the wire are not connected to the job yet; use --in-process-workers N")
    }
}
