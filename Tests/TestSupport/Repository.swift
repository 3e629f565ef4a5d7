import Foundation

/// Paths in the repository, for tests that read its fixtures or files.
public enum Repository {
    /// The repository's root folder (three levels above this file: Tests/TestSupport/).
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// A small random model of the forward-pass fixtures: `Tests/ModelTests/Fixtures/<name>`
    /// (llama, mistral, qwen2, qwen3, llama_rope_llama3; made by make_forward_fixtures.py).
    public static func model(_ name: String) -> String { root + "/Tests/ModelTests/Fixtures/" + name }
}
