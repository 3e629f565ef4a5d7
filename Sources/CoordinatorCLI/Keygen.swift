import ArgumentParser
import Cluster

/// `coordinator keygen`: a CURVE key pair for a coordinator or a worker.
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub.",
        discussion: """
            For a shared network: workers run with --key worker.key --allow DIR (the coordinators' \
            .pub files); the coordinator runs with --key coordinator.key, and its hosts file gives \
            each worker's public key (host:port key=Z85, or keys=DIR for DIR/HOST.pub). Example:
              coordinator keygen --out keys --name coordinator
              coordinator keygen --out keys --name node-1
              worker --listen tcp://0.0.0.0:5555 --key keys/node-1.key --allow keys/coordinator.pub
              echo "node-1:5555 keys=keys" > hosts.txt
              coordinator --model DIR --workers hosts.txt --key keys/coordinator.key ...
            Existing files are never overwritten.
            """)

    @Option(help: "Directory to write the two files to (made if missing).")
    var out: String

    @Option(help: "The files' name: NAME.key and NAME.pub (e.g. coordinator, or the worker's host name for keys=DIR).")
    var name = "coordinator"

    func validate() throws {
        guard !name.isEmpty, !name.contains("/") else { throw ValidationError("--name \(name): expected a file name without /") }
    }

    func run() throws {
        let written = try CurveKeyFiles.generate(in: out, name: name)
        print("wrote \(written.secret) (secret, mode 0600) and \(written.public)")
        print("public key: \(written.key)")
    }
}
