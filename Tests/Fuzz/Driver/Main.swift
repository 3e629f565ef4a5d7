import Foundation
import ParserFuzzing

// The fuzz driver: one binary for every target of `ParserFuzzing.targets`.
//
// Built by Tests/Fuzz/run.sh with `--sanitize=fuzzer --sanitize=address -Xswiftc -DFUZZING`,
// it is a libFuzzer target: libFuzzer's own `main` runs it, `CALIBRATE_FUZZ_TARGET` names the
// target, and `CALIBRATE_FUZZ_SEEDS=DIR` writes every target's seed corpus into DIR/<target>/ and
// exits (the corpus is made, not committed). Built plainly (`swift build`), it replays files:
// `parser-fuzz TARGET FILE…` runs each file through the target and prints its name first, so
// a reproducer can be run without sanitizers or a debugger's help.

/// The target the environment names, or exit with the list of targets.
func selectedTarget(_ name: String?) -> ParserFuzzing.Target {
    if let name, let target = ParserFuzzing.target(named: name) { return target }
    let names = ParserFuzzing.targets.map(\.name).joined(separator: ", ")
    FileHandle.standardError.write(Data("parser-fuzz: unknown target \(name ?? "(none)"); targets: \(names)\n".utf8))
    exit(2)
}

/// Writes `Seeds.all` of every target under `directory`, as `seed-<name>` files, and prints one
/// line per target for run.sh: its name, its `maxLength` and its number of seeds.
func writeSeeds(to directory: String) -> Never {
    let root = FileManager.default.currentDirectoryPath
    for target in ParserFuzzing.targets {
        let folder = (directory as NSString).appendingPathComponent(target.name)
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let seeds = Seeds.all(for: target.name, root: root)
        for seed in seeds {
            _ = FileManager.default.createFile(atPath: (folder as NSString).appendingPathComponent("seed-" + seed.name), contents: Data(seed.bytes))
        }
        print(target.name, target.maxLength, seeds.count)
    }
    exit(0)
}

#if FUZZING
nonisolated(unsafe) var fuzzTarget: ParserFuzzing.Target?

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let environment = ProcessInfo.processInfo.environment
    if let directory = environment["CALIBRATE_FUZZ_SEEDS"] { writeSeeds(to: directory) }
    fuzzTarget = selectedTarget(environment["CALIBRATE_FUZZ_TARGET"])
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzTarget?.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
@main
struct Replay {
    static func main() {
        var arguments = CommandLine.arguments.dropFirst()
        if arguments.first == "--seeds", arguments.count == 2 { writeSeeds(to: arguments.last!) }
        let target = selectedTarget(arguments.popFirst())
        for path in arguments {
            print(path)
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("parser-fuzz: cannot read \(path)\n".utf8))
                exit(1)
            }
            target.run([UInt8](data))
        }
    }
}
#endif
