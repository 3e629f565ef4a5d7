import Checkpoint
import Foundation
import Tensors
import Testing

@Suite("safetensors reader")
struct SafetensorsReaderTests {
    @Test("a sharded checkpoint written by the Python safetensors library reads back every dtype")
    func readsPythonShards() throws {
        let reader = try CheckpointReader(path: Fixtures.path("sharded"))
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("sharded.expected.json")))
        let expected = try JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
        #expect(reader.names == expected.keys.sorted())
        for (name, fields) in expected {
            let tensor = try reader.tensor(name)
            #expect(tensor.dtype.rawValue == fields["dtype"] as? String, "\(name)")
            #expect(tensor.shape == fields["shape"] as? [Int], "\(name)")
            let values = (fields["values"] as! [NSNumber]).map { $0.floatValue }
            #expect(tensor.floats() == values, "\(name)")
        }
        #expect(try reader.file(holding: "a.f32").header.metadata == ["format": "pt"])
    }

    @Test("asking for a tensor the checkpoint lacks names the tensor")
    func missingTensorByName() throws {
        let reader = try CheckpointReader(path: Fixtures.path("sharded"))
        let error = #expect(throws: CheckpointError.self) { try reader.tensor("model.nothing") }
        #expect(error?.code == .missingTensor)
        #expect(error?.description.contains("model.nothing") == true)
    }

    @Test("each malformed file raises its own error, naming the file and the tensor", arguments: [
        ("file.truncated.safetensors", CheckpointError.Code.truncated, nil as String?, "fewer than the 8-byte"),
        ("header.longer_than_file.safetensors", .truncated, nil, "header length 4096 runs past the end"),
        ("header.bad_json.safetensors", .badJSON, nil, "not valid JSON"),
        ("header.unknown_dtype.safetensors", .unknownDType, "x", "unknown dtype \"F128\""),
        ("header.shape_bytes_mismatch.safetensors", .sizeMismatch, "x", "needs 24 bytes but data_offsets span 16"),
        ("header.overlapping_offsets.safetensors", .overlappingOffsets, "y", "overlap tensor \"x\""),
        ("header.offsets_past_end.safetensors", .offsetsOutOfRange, "x", "ends at byte 32 of the data section but the data section has 16 bytes"),
        ("index.missing_shard", .missingShard, "y", "names shard \"model-00002-of-00002.safetensors\", which does not exist"),
        ("index.missing_tensor", .missingTensor, "z", "listed in model.safetensors.index.json but absent from this shard"),
    ])
    func malformed(file: String, code: CheckpointError.Code, tensor: String?, message: String) {
        let path = Fixtures.path("malformed/" + file)
        let error = #expect(throws: CheckpointError.self) { _ = try CheckpointReader(path: path) }
        #expect(error?.code == code, "\(file): \(String(describing: error))")
        #expect(error?.tensor == tensor, "\(file): \(String(describing: error))")
        #expect(error?.description.contains(message) == true, "\(file): \(String(describing: error))")
        #expect(error?.description.contains("malformed/\(file)") == true, "the error names the file: \(String(describing: error))")
    }

    @Test("a directory with no checkpoint is refused with what was looked for")
    func emptyDirectory() throws {
        let directory = try Fixtures.temporaryDirectory("empty")
        let error = #expect(throws: CheckpointError.self) { _ = try CheckpointReader(path: directory) }
        #expect(error?.description.contains("neither model.safetensors.index.json nor model.safetensors") == true)
    }

    @Test("header fields of the wrong JSON type name the tensor and the field", arguments: [
        (#"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, CheckpointError.Code.badShape, "w" as String?, "shape"),
        (#"{"w":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, .badJSON, "w", "shape"),
        (#"{"w":{"dtype":"F32","shape":[1]}}"#, .badJSON, "w", "data_offsets"),
        (#"{"__metadata__":{"a":1}}"#, .badJSON, nil, "__metadata__"),
    ])
    func wrongFieldTypes(header: String, code: CheckpointError.Code, tensor: String?, field: String) throws {
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) }
        bytes += Array(header.utf8) + [0, 0, 0, 0]
        let error = bytes.withUnsafeBytes { raw in
            #expect(throws: CheckpointError.self) { _ = try SafetensorsHeader(parsing: raw, file: "case.safetensors") }
        }
        #expect(error?.code == code)
        #expect(error?.tensor == tensor)
        #expect(error?.description.contains(field) == true, "\(String(describing: error))")
    }
}
