import Foundation
import TestSupport
import Testing

/// Paths and helpers shared by the checkpoint tests.
enum Fixtures {
    /// `Tests/CheckpointTests/Fixtures/<name>` as copied into the test bundle.
    static func path(_ name: String) -> String {
        Bundle.module.resourcePath! + "/Fixtures/" + name
    }

    /// The repository root.
    static let repositoryRoot = Repository.root

    /// A fresh empty directory under the system's temporary directory.
    static func temporaryDirectory(_ label: String) throws -> String {
        let path = NSTemporaryDirectory() + "calibrate-\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs `Tests/Reference/<script>` with the project's Python environment (made by
    /// deploy/setup.sh) and returns its standard output.
    static func runReference(_ script: String, _ arguments: [String]) throws -> String {
        let python = repositoryRoot + "/.venv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw ReferenceError("no Python environment at \(python): run deploy/setup.sh first")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [repositoryRoot + "/Tests/Reference/" + script] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ReferenceError("\(script) failed with status \(process.terminationStatus): \(errorText)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

struct ReferenceError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
