import Foundation

/// Where a worker may read models from: the directories its operator named (`worker --models`),
/// or anywhere when none were named. A job naming a path outside them is refused before the path
/// is touched, so a coordinator learns nothing about what exists elsewhere on the worker's disk.
public struct ModelDirectories: Sendable, Equatable {
    /// The allowed directories, symbolic links resolved; nil: any path.
    public let roots: [String]?

    /// Any path may be read.
    public static let any = ModelDirectories(roots: nil)

    /// Only paths under `directories` (each resolved through symbolic links now).
    public init(_ directories: [String]) {
        self.init(roots: directories.map { Self.resolved($0) })
    }

    private init(roots: [String]?) { self.roots = roots }

    /// `path`, checked to lie under one of the roots both as written (`..` removed) and with its
    /// symbolic links resolved (a link inside a root pointing outside it is refused too).
    /// - Throws: `WorkerError` naming the path and the directories allowed.
    public func check(_ path: String, job: String) throws -> String {
        guard let roots else { return path }
        let lexical = URL(fileURLWithPath: path).standardizedFileURL.path
        guard roots.contains(where: { Self.path(lexical, isUnder: $0) }), roots.contains(where: { Self.path(Self.resolved(lexical), isUnder: $0) }) else {
            throw WorkerError("job \(job): the model path \(path) is outside the directories this worker reads models from (--models \(roots.joined(separator: ", "))); "
                              + "put the model there, or run the coordinator with --stream-weights")
        }
        return lexical
    }

    static func resolved(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    static func path(_ path: String, isUnder root: String) -> Bool {
        if root == "/" { return path.hasPrefix("/") }
        return path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }
}
