import ArgumentParser

/// `coordinator`: drives a calibration job across workers.
@main
struct Coordinator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Calibrate and quantize a large language model across worker processes.",
        subcommands: [Quantize.self, Eval.self, Generate.self, ImportGGUF.self, Inspect.self, Plan.self, Ping.self, Keygen.self],
        defaultSubcommand: Quantize.self)
}
