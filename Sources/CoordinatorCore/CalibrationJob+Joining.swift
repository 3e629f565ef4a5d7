import Foundation
import JobProtocol
import ModelConfiguration
import Tensors

/// Workers that join and leave a running job (docs/ARCHITECTURE.md, "Joining workers"): at a
/// layer boundary the job asks its `WorkerJoining` source what changed, starts new workers empty
/// at that layer's input, and rebalances — the workers holding more than their share (by
/// capacity, in whole statistics blocks; a leaving worker's share is nothing) release their last
/// blocks, and those under it adopt them, with the hidden states the releasing workers send
/// (`JoinTransfer.move`) or rebuilt by replaying the layers done (`.replay`); then the leaving
/// workers are let go. Statistics are exact sums over the same blocks whoever holds them, so a
/// job whose workers change writes the same bytes as one that had its last workers from the start.
extension CalibrationJob {
    /// Takes in the workers that joined since the last boundary and lets go of those to leave,
    /// before layer `layer` starts. Leaving workers stay when too few would be left (fewer than
    /// `--min-workers`, or none).
    /// - Throws: `WorkersLost` when a worker is lost on the way (the samples it held or was
    ///   given are orphaned, and the caller recovers); `JobError` when a worker fails.
    func changeWorkers(layer: Int) async throws {
        guard let joining else { return }
        let liveAddresses = Set(liveWorkers.map { workers[$0].address })
        let changes = await joining.changes(live: liveAddresses)
        let new = changes.joining
        var leaving = Set(liveWorkers.filter { changes.leaving.contains(workers[$0].address) })
        guard !new.isEmpty || !leaving.isEmpty else { return }
        let started = Date()
        let traffic = await trafficTotal()
        currentPhase = (layer, "join")
        let transfer = inputs.joinTransfer
        var entries: [Int: Int] = [:]
        for worker in new {
            workers.append(worker)
            (states, alive, blocks) = (states + ["idle"], alive + [true], blocks + [[]])
            let index = workers.count - 1
            entries[index] = joins.count
            joins.append(JobReport.Join(worker: worker.address, layer: layer, at: started.timeIntervalSince(startTime), transfer: transfer.rawValue))
            // Started empty, at this layer's input. A worker that cannot take the job does not
            // join; the job goes on without it.
            do {
                let reply = try await worker.send(try startRequest(0..<0))
                guard case .started = reply else { throw JobError("answered the job's start with \(reply.summary)") }
                let rewound = try await worker.send(.rewind(layer: layer))
                guard case .rewound(layer) = rewound else { throw JobError("answered rewind to layer \(layer) with \(rewound.summary)") }
            } catch {
                alive[index] = false
                failedJoins.insert(index)
                joins[joins.count - 1].transfer = "failed: \(error)"
                progress?.log("worker \(worker.address) did not join: \(error)")
                continue
            }
            progress?.log("worker \(worker.address) joins at layer \(layer)")
        }
        let staying = liveWorkers.count - leaving.count
        if !leaving.isEmpty, staying < max(1, inputs.minWorkers) {
            if leaving != heldBack {
                progress?.log("\(leaving.sorted().map { workers[$0].address }.joined(separator: ", ")) stay in the job for now: without them \(staying) "
                              + "worker(s) would be left, fewer than \(max(1, inputs.minWorkers))")
            }
            heldBack = leaving
            leaving = []
            guard !new.isEmpty else { return }
        }
        for index in leaving.sorted() {
            progress?.log("worker \(workers[index].address) leaves at layer \(layer) (no longer listed)")
        }
        let (donations, receipts, origin) = rebalance(leaving: leaving)
        if receipts.isEmpty && leaving.isEmpty { return }
        let moving = transfer == .move
        let released = try await broadcast("release", keepLost: true) { donations[$0].map { .release(blocks: $0, states: moving) } }
        var rows: [Int: [Float]] = [:]
        var lost = false
        for (donor, runs) in donations {
            guard let reply = released[donor] else {
                lost = true
                continue
            }
            blocks[donor] = SampleRuns.subtract(runs, from: blocks[donor])
            orphaned += runs
            if moving, case .released(_, let states?) = reply {
                try cut(states, runs: runs, from: workers[donor].address, into: &rows)
            }
        }
        if lost { throw WorkersLost(workers: donations.keys.filter { !alive[$0] }) }
        var states: [Int: Tensor] = [:]
        if moving {
            for (index, runs) in receipts {
                let units = SampleRuns.units(of: runs, block: statisticsBlock)
                let tokens = units.reduce(0) { total, unit in total + inputs.sequences[unit].reduce(0) { $0 + $1.count } }
                states[index] = Tensor(floats: units.flatMap { rows[$0.lowerBound] ?? [] }, shape: [tokens, config.hiddenSize])
            }
        }
        let (merged, lostInHandOver) = try await handOver(receipts, layer: layer, states: states)
        let bytes = await trafficTotal() - traffic
        for (index, runs) in receipts {
            guard let position = entries[index] else { continue }
            let byDonor = Dictionary(grouping: SampleRuns.units(of: runs, block: statisticsBlock), by: { origin[$0.lowerBound] ?? -1 })
            joins[position].samples = merged[index] ?? 0
            joins[position].from = byDonor.keys.sorted().filter { $0 >= 0 }.map { donor in
                "\(workers[donor].address) \(byDonor[donor, default: []].reduce(0) { $0 + $1.count })"
            }
            joins[position].seconds = Date().timeIntervalSince(started)
            joins[position].bytes = bytes
        }
        if lostInHandOver { throw WorkersLost(workers: receipts.keys.filter { !alive[$0] }) }
        for index in leaving.sorted() {
            var departure = JobReport.Departure(worker: workers[index].address, layer: layer, at: started.timeIntervalSince(startTime), transfer: transfer.rawValue)
            departure.samples = donations[index].map { $0.reduce(0) { $0 + $1.count } } ?? 0
            departure.to = receipts.keys.sorted().compactMap { receiver in
                let count = SampleRuns.units(of: receipts[receiver] ?? [], block: statisticsBlock).filter { origin[$0.lowerBound] == index }.reduce(0) { $0 + $1.count }
                return count == 0 ? nil : "\(workers[receiver].address) \(count)"
            }
            departure.seconds = Date().timeIntervalSince(started)
            departure.bytes = bytes
            // Its summary (peak memory) for the report, then its session ends; it holds nothing of
            // the job's since its release, so nothing is lost with it.
            if case .finished(let summary)? = try? await workers[index].send(.finish) { departedSummaries[index] = summary }
            await workers[index].leave(reason: "left the job at layer \(layer): no longer listed")
            alive[index] = false
            departed.insert(index)
            self.states[index] = "left"
            departures.append(departure)
        }
        heldBack.subtract(departed)
        guard !receipts.isEmpty else { return }
        progress?.log("rebalanced at layer \(layer): \(liveWorkers.count) worker(s), \(receipts.values.joined().reduce(0) { $0 + $1.count }) sample(s) \(moving ? "moved" : "replayed")")
    }

    /// Who gives which blocks to whom so that every live worker holds its share by capacity
    /// (`SampleShards`' rounding, in whole statistics blocks) and those `leaving` hold none: a
    /// worker over its share releases its last blocks, and those under it take the released
    /// blocks in sample order.
    /// - Returns: runs released per donor, runs adopted per receiver, and each moved block's donor
    ///   (by its first sample).
    func rebalance(leaving: Set<Int> = []) -> (donations: [Int: [Range<Int>]], receipts: [Int: [Range<Int>]], origin: [Int: Int]) {
        let live = liveWorkers
        let held = live.map { SampleRuns.units(of: blocks[$0], block: statisticsBlock) }
        let total = held.reduce(0) { $0 + $1.count }
        let staying = live.filter { !leaving.contains($0) }
        guard total > 0, !staying.isEmpty else { return ([:], [:], [:]) }
        let shares = Dictionary(uniqueKeysWithValues: zip(staying, SampleShards.split(samples: total, capacities: staying.map { workers[$0].capacity }).map(\.count)))
        let targets = live.map { shares[$0] ?? 0 }
        var pool: [Range<Int>] = []
        var origin: [Int: Int] = [:]
        var donations: [Int: [Range<Int>]] = [:]
        for (position, index) in live.enumerated() where held[position].count > targets[position] {
            let given = Array(held[position].suffix(held[position].count - targets[position]))
            donations[index] = SampleRuns.merged(given)
            for unit in given { origin[unit.lowerBound] = index }
            pool += given
        }
        pool.sort { $0.lowerBound < $1.lowerBound }
        var receipts: [Int: [Range<Int>]] = [:]
        var next = 0
        for (position, index) in live.enumerated() where held[position].count < targets[position] {
            let count = targets[position] - held[position].count
            receipts[index] = SampleRuns.merged(Array(pool[next..<(next + count)]))
            next += count
        }
        return (donations, receipts, origin)
    }

    /// The rows of `states` (released for `runs`, in their order) per statistics block, by the
    /// block's first sample.
    private func cut(_ states: Tensor, runs: [Range<Int>], from address: String, into rows: inout [Int: [Float]]) throws {
        let width = config.hiddenSize
        let units = SampleRuns.units(of: runs, block: statisticsBlock)
        let tokens = units.map { unit in inputs.sequences[unit].reduce(0) { $0 + $1.count } }
        guard states.dtype == .f32, states.shape == [tokens.reduce(0, +), width] else {
            throw JobError("worker \(address) released hidden states \(states.dtype) \(states.shape), expected F32 [\(tokens.reduce(0, +)), \(width)]")
        }
        let values = states.floats()
        var row = 0
        for (unit, count) in zip(units, tokens) {
            rows[unit.lowerBound] = Array(values[(row * width)..<((row + count) * width)])
            row += count
        }
    }
}
