import Cluster
import CoordinatorCore
import RemoteWorkers
import WorkerCore

extension WorkerOptions {
    /// Workers for a calibration job: the hosts file's, local processes (the default: two), or
    /// workers inside this process (`--in-process-workers`: the one place the coordinator runs
    /// the worker's calibration code).
    /// - Throws: an error naming every worker that could not be reached, before any work starts.
    func connectJobWorkers() async throws -> JobWorkers {
        if let inProcessWorkers {
            return JobWorkers(connections: (0..<inProcessWorkers).map { SerialWorker(index: $0) }, shutdown: {})
        }
        let source: WorkerCluster.Source = workers.map { .hostsFile($0) } ?? .local(count: localWorkers ?? 2, threads: workerThreads, executable: nil)
        return try await JobWorkers.connect(source, configuration: try poolConfiguration())
    }
}
