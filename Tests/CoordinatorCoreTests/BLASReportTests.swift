import CoordinatorCore
import Foundation
import JobProtocol
import Kernels
import Testing
import WorkerCore

/// A worker that says it computed with other BLAS kernels or threads than it did.
final class OtherKernels: WorkerConnection, @unchecked Sendable {
    let address = "in-process #9"
    let capacity = 1
    private let worker = SerialWorker(index: 9)
    private let claimed: (core: String, threads: Int)

    init(core: String = "SkylakeX", threads: Int = 16) { claimed = (core, threads) }

    func send(_ request: WorkerRequest) async throws -> WorkerReply {
        let reply = try await worker.send(request)
        guard case .finished(var summary) = reply else { return reply }
        (summary.blasCore, summary.blasThreads) = claimed
        return .finished(summary)
    }

    func traffic() async -> WorkerTraffic { WorkerTraffic() }
}

@Suite("BLAS kernels in the report")
struct BLASReportTests {
    @Test("the report names every process's BLAS kernels and threads, and notes workers whose kernels differ (not threads)")
    func kernelsReported() async throws {
        let same = try await WorkerLossTests.run([SerialWorker(index: 0), SerialWorker(index: 1)], recipe: WorkerLossTests.recipe("gptq"))
        #expect(same.processes.allSatisfy { $0.blas?.contains(" × ") == true }, "\(same.processes.map(\.blas))")
        #expect(!same.notes.contains { $0.contains("OpenBLAS kernels") })
        let mixed = try await WorkerLossTests.run([SerialWorker(index: 0), OtherKernels()], recipe: WorkerLossTests.recipe("gptq"))
        #expect(mixed.processes.last?.blas == "SkylakeX × 16")
        #expect(mixed.notes.contains { $0.contains("different OpenBLAS kernels") && $0.contains("SkylakeX") && $0.contains("OPENBLAS_CORETYPE") },
                "\(mixed.notes)")
        let threads = try await WorkerLossTests.run([SerialWorker(index: 0), OtherKernels(core: BLAS.coreName, threads: 16)], recipe: WorkerLossTests.recipe("gptq"))
        #expect(threads.processes.last?.blas == "\(BLAS.coreName) × 16")
        #expect(!threads.notes.contains { $0.contains("OpenBLAS kernels") }, "\(threads.notes)")
    }
}
