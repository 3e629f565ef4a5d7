import Checkpoint
import Foundation
import Tensors
import Testing

@Suite("safetensors writer")
struct SafetensorsWriterTests {
    /// One tensor of every dtype, with awkward names and shapes.
    static func sample() -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for (index, dtype) in DType.allCases.enumerated() {
            let count = 3 + index
            let values = (0..<count).map { Float(($0 * 7 + index) % 5) - (dtype == .u8 || dtype == .bool ? 0 : 2) }
            tensors["layer.\(index).\(dtype.rawValue.lowercased())"] = Tensor(floats: values.map { dtype == .bool ? ($0 > 0 ? 1 : 0) : $0 }, shape: [count], dtype: dtype)
        }
        tensors["z.scalar"] = Tensor(floats: [3.5], shape: [])
        tensors["z.empty"] = Tensor(floats: [], shape: [2, 0])
        tensors["quote\"and\\backslash"] = Tensor(floats: [1, 2], shape: [1, 2], dtype: .bf16)
        return tensors
    }

    @Test("what the writer writes reads back byte for byte")
    func roundTrip() throws {
        let directory = try Fixtures.temporaryDirectory("writer")
        let path = directory + "/out.safetensors"
        let tensors = Self.sample()
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt", "note": "é\n"], to: path)
        let file = try SafetensorsFile(path: path)
        #expect(file.names == tensors.keys.sorted())
        #expect(file.header.metadata == ["format": "pt", "note": "é\n"])
        #expect(file.header.dataStart % 8 == 0, "the data section is 8-byte aligned")
        for (name, tensor) in tensors {
            let read = try file.tensor(name)
            #expect(read.dtype == tensor.dtype && read.shape == tensor.shape)
            #expect(read.withUnsafeBytes { Array($0) } == tensor.withUnsafeBytes { Array($0) }, "\(name)")
        }
        let offsets = file.names.map { try! file.entry($0).dataOffsets }
        #expect(zip(offsets, offsets.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "data in sorted name order, no gaps")
        #expect(SafetensorsWriter.fileSize(of: tensors, metadata: ["format": "pt", "note": "é\n"]) == (try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(leftovers == ["out.safetensors"], "no temporary file is left behind")
    }

    @Test("the Python safetensors library reads the writer's output identically")
    func pythonReadsOurFiles() throws {
        let directory = try Fixtures.temporaryDirectory("python")
        let path = directory + "/out.safetensors"
        let tensors = Self.sample()
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: path)
        let output = try Fixtures.runReference("read_safetensors.py", [path])
        let parsed = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
        #expect(parsed["metadata"] as? [String: String] == ["format": "pt"])
        let read = parsed["tensors"] as! [String: [String: Any]]
        #expect(read.keys.sorted() == tensors.keys.sorted())
        for (name, tensor) in tensors {
            let hex = tensor.withUnsafeBytes { $0.map { byte in String(byte, radix: 16).count == 1 ? "0" + String(byte, radix: 16) : String(byte, radix: 16) }.joined() }
            #expect(read[name]?["dtype"] as? String == tensor.dtype.rawValue, "\(name)")
            #expect(read[name]?["shape"] as? [Int] == tensor.shape, "\(name)")
            #expect(read[name]?["hex"] as? String == hex, "\(name)")
        }
    }

    @Test("a sharded checkpoint rotates at the size limit and writes its index last")
    func sharded() throws {
        let directory = try Fixtures.temporaryDirectory("sharded")
        let writer = ShardedCheckpointWriter(directory: directory, maxShardSize: 64)
        var all: [String: Tensor] = [:]
        for layer in 0..<5 {
            for part in ["b", "a"] {
                let tensor = Tensor(floats: (0..<6).map { Float(layer * 10 + $0) }, shape: [2, 3])
                all["model.layers.\(layer).\(part)"] = tensor
                try writer.add("model.layers.\(layer).\(part)", tensor)
            }
            #expect(!FileManager.default.fileExists(atPath: directory + "/" + ShardIndex.fileName), "no index before finish")
        }
        let (index, files) = try writer.finish()
        #expect(files == (1...5).map { ShardedCheckpointWriter.shardName($0, of: 5) }, "24-byte tensors under a 64-byte limit: 2 per shard")
        #expect(index.totalSize == 10 * 24)
        #expect(index.weightMap.count == 10)
        let reader = try CheckpointReader(path: directory)
        for (name, tensor) in all {
            #expect(try reader.tensor(name).floats() == tensor.floats())
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(names == (files + [ShardIndex.fileName]).sorted(), "only final shards and the index remain")
        let duplicate = #expect(throws: CheckpointError.self) { try ShardedCheckpointWriter(directory: directory, maxShardSize: 8).addTwice() }
        #expect(duplicate?.description.contains("added twice") == true)
    }

    @Test("a write that is never committed leaves no file under the final name")
    func uncommitted() throws {
        let directory = try Fixtures.temporaryDirectory("atomic")
        do {
            let file = try AtomicFile(path: directory + "/x.bin")
            try file.write([1, 2, 3])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        let error = #expect(throws: CheckpointError.self) { try AtomicFile.write([1], to: directory + "/missing/x.bin") }
        #expect(error?.code == .io && error?.description.contains("missing/x.bin") == true)
    }
}

extension ShardedCheckpointWriter {
    fileprivate func addTwice() throws {
        try add("t", Tensor(floats: [1], shape: [1]))
        try add("t", Tensor(floats: [1], shape: [1]))
    }
}
