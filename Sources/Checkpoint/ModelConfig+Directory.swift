import Foundation
import ModelConfiguration

extension ModelConfig {
    /// Reads and parses `config.json` in `directory`.
    /// - Throws: `CheckpointError` (`.io`) when the file cannot be read; `ConfigError` naming the
    ///   file and the field when it does not describe a supported model.
    public init(directory: String) throws {
        let path = (directory as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError(.io, file: path, "cannot read the model's config.json")
        }
        try self.init(parsing: data, file: path)
    }
}
