import ArgumentParser

/// `calibrate-bench`: measurements of calibrate's kernels, each printed next to a reference
/// measured in the same run (memcpy GB/s, sgemm GFLOP/s), so ratios mean something on a
/// noisy machine. Build with `-c release`.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate-bench",
        abstract: "Benchmarks of calibrate's kernels against in-run references.",
        subcommands: [BLASBench.self, ConvertBench.self, ForwardBench.self, StreamingBench.self, TokenizerBench.self, WireBench.self, GPTQBench.self, StatsBench.self, PrefetchBench.self, JobBench.self, RecoveryBench.self, JoinBench.self, AWQBench.self, PlanBench.self])
}
