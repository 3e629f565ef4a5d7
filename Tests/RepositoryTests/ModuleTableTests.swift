import Foundation
import TestSupport
import Testing

/// docs/ARCHITECTURE.md's module table against the sources: each row's `imports` column is
/// exactly what that module's files import (system modules aside), and every module has a row.
@Suite("the module table")
struct ModuleTableTests {
    static let root = URL(fileURLWithPath: Repository.root)

    /// Modules of the platform, not of this package or its dependencies.
    static let system: Set<String> = ["Foundation", "Glibc", "Dispatch", "Synchronization"]

    /// module → the imports its row lists, from the table under "## Modules".
    static func table() throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent("docs/ARCHITECTURE.md"), encoding: .utf8)
        guard let start = text.range(of: "\n## Modules\n") else { throw TableError("docs/ARCHITECTURE.md has no \"## Modules\" section") }
        var rows: [String: Set<String>] = [:]
        for line in text[start.upperBound...].split(separator: "\n").prefix(while: { !$0.hasPrefix("## ") }) where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3 else { continue }
            // "`Benchmarks` (`calibrate-bench`)" or "`CZMQ`, `COpenBLAS`": the backquoted names before any parenthesis.
            let names = cells[1].split(separator: "(")[0].split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " `")) }
            let imports = cells[2] == "—" ? [] : cells[2].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            for name in names { rows[name] = Set(imports) }
        }
        return rows
    }

    /// module → what its Swift sources import (system modules aside).
    static func sources() throws -> [String: Set<String>] {
        let sources = root.appendingPathComponent("Sources")
        var result: [String: Set<String>] = [:]
        for module in try FileManager.default.contentsOfDirectory(atPath: sources.path) {
            var imports = Set<String>()
            let enumerator = FileManager.default.enumerator(atPath: sources.appendingPathComponent(module).path)
            while let file = enumerator?.nextObject() as? String {
                guard file.hasSuffix(".swift") else { continue }
                let text = try String(contentsOf: sources.appendingPathComponent(module).appendingPathComponent(file), encoding: .utf8)
                // Import declarations start their line (an indented "import" is inside a string).
                for line in text.split(separator: "\n") where !line.hasPrefix(" ") {
                    let words = line.split(separator: " ")
                    guard let index = words.firstIndex(of: "import"), index + 1 < words.count,
                          words[..<index].allSatisfy({ ["@testable", "public", "internal", "package", "@_exported"].contains($0) }) else { continue }
                    let name = String(words[index + 1])
                    if !system.contains(name) { imports.insert(name) }
                }
            }
            result[module] = imports
        }
        return result
    }

    struct TableError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    @Test("every module has a row, and its imports are exactly the row's")
    func importsMatch() throws {
        let table = try Self.table()
        let sources = try Self.sources()
        #expect(table.count >= 20, "rows read: \(table.keys.sorted())")
        for (module, imports) in sources.sorted(by: { $0.key < $1.key }) {
            guard let listed = table[module] else {
                Issue.record("Sources/\(module) has no row in docs/ARCHITECTURE.md's module table")
                continue
            }
            #expect(imports.subtracting(listed).isEmpty, "\(module) imports \(imports.subtracting(listed).sorted()), which its row does not list")
            #expect(listed.subtracting(imports).isEmpty, "\(module)'s row lists \(listed.subtracting(imports).sorted()), which none of its files imports")
        }
        for module in table.keys where sources[module] == nil {
            Issue.record("the module table lists \(module), which is not under Sources/")
        }
    }

    @Test("the two sides meet only in JobProtocol")
    func sidesApart() throws {
        let sources = try Self.sources()
        for coordinatorSide in ["CoordinatorCore", "RemoteWorkers"] {
            #expect(sources[coordinatorSide]?.isDisjoint(with: ["WorkerCore", "WorkerService"]) == true, "\(coordinatorSide): \(sources[coordinatorSide] ?? [])")
        }
        for workerSide in ["WorkerCore", "WorkerService", "WorkerCLI"] {
            #expect(sources[workerSide]?.isDisjoint(with: ["CoordinatorCore", "RemoteWorkers", "Yams"]) == true, "\(workerSide): \(sources[workerSide] ?? [])")
        }
    }
}
