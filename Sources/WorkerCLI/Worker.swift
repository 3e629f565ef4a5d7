import ArgumentParser

/// `worker`: holds a share of the calibration samples and runs the work the coordinator sends.
@main
struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Serve calibration work for a coordinator.",
        discussion: "The wire protocol and the worker service are not built yet (issue 6); this prints usage only.")

    func run() throws {
        print(Worker.helpMessage())
    }
}
