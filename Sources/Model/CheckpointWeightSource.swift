import Checkpoint
import Dispatch
import Kernels
import ModelConfiguration
import Tensors

/// Weights read from a Hugging Face checkpoint (safetensors, sharded or not) — or from any
/// `TensorStore` holding tensors under Hugging Face names — and converted to float32 on load. Every tensor is checked when read: present, a float dtype, the shape the
/// config implies, no NaN or Inf. Errors name the tensor and the checkpoint.
public final class CheckpointWeightSource: WeightSource, Sendable {
    public let config: ModelConfig
    public let reader: any TensorStore
    /// The per-token grids of the linears whose inputs a quantized checkpoint quantizes (module
    /// name → scheme, e.g. "model.layers.0.mlp.up_proj" → 8 bits, symmetric).
    public let activationSchemes: [String: QuantizationScheme]

    /// Opens the model directory `path` (config.json plus safetensors).
    public convenience init(directory path: String) throws {
        try self.init(config: ModelConfig(directory: path), reader: CheckpointReader(path: path))
    }

    public init(config: ModelConfig, reader: CheckpointReader) {
        self.config = config
        self.reader = reader
        activationSchemes = [:]
    }

    /// Weights from any store of Hugging Face-named tensors (e.g. streamed over the network, or a
    /// dequantizing view of a quantized checkpoint with its activation grids).
    public init(config: ModelConfig, store: any TensorStore, activationSchemes: [String: QuantizationScheme] = [:]) {
        self.config = config
        reader = store
        self.activationSchemes = activationSchemes
    }

    public func embeddings(of tokens: [Int32]) throws -> Matrix {
        let name = "model.embed_tokens.weight"
        let table = try tensor(name, shape: [config.vocabSize, config.hiddenSize])
        let hidden = config.hiddenSize
        var result = Matrix(rows: tokens.count, columns: hidden)
        let rowBytes = hidden * table.dtype.byteSize
        try table.withUnsafeBytes { bytes in
            try result.values.withUnsafeMutableBufferPointer { destination in
                for (row, token) in tokens.enumerated() {
                    guard token >= 0, Int(token) < config.vocabSize else {
                        throw ModelError(.badInput, "token \(row) is \(token), outside the vocabulary [0, \(config.vocabSize))")
                    }
                    let source = UnsafeRawBufferPointer(rebasing: bytes[(Int(token) * rowBytes)..<((Int(token) + 1) * rowBytes)])
                    let rowTensor = try Tensor(dtype: table.dtype, shape: [hidden], storage: TensorStorage(viewing: source, owner: table.storage))
                    let target = UnsafeMutableBufferPointer(rebasing: destination[(row * hidden)..<((row + 1) * hidden)])
                    rowTensor.copyFloats(into: target)
                    if let position = LayerMath.firstNonFinite(UnsafeBufferPointer(target)) {
                        throw ModelError(.nonFinite, tensor: name, "row \(token), element \(position) is \(target[position]); weights must be finite")
                    }
                }
            }
        }
        reader.release(name)
        return result
    }

    public func layer(_ index: Int) throws -> LayerWeights {
        guard index >= 0, index < config.numHiddenLayers else {
            throw ModelError(.badInput, "layer \(index) does not exist; the model has \(config.numHiddenLayers) layers")
        }
        let c = config
        func linear(_ module: String, _ rows: Int, _ columns: Int, bias: Bool) throws -> Linear {
            let prefix = LayerWeights.tensorName(layer: index, module)
            return Linear(weight: try matrix(prefix + ".weight", rows: rows, columns: columns),
                          bias: bias ? try vector(prefix + ".bias", count: rows) : nil, inputQuantization: activationSchemes[prefix])
        }
        let name = { LayerWeights.tensorName(layer: index, $0) }
        return LayerWeights(
            index: index,
            inputNorm: try vector(name("input_layernorm.weight"), count: c.hiddenSize),
            q: try linear("self_attn.q_proj", c.queryWidth, c.hiddenSize, bias: c.qkvBias),
            k: try linear("self_attn.k_proj", c.keyValueWidth, c.hiddenSize, bias: c.qkvBias),
            v: try linear("self_attn.v_proj", c.keyValueWidth, c.hiddenSize, bias: c.qkvBias),
            qNorm: c.qkNorm ? try vector(name("self_attn.q_norm.weight"), count: c.headDim) : nil,
            kNorm: c.qkNorm ? try vector(name("self_attn.k_norm.weight"), count: c.headDim) : nil,
            o: try linear("self_attn.o_proj", c.hiddenSize, c.queryWidth, bias: c.oProjBias),
            postAttentionNorm: try vector(name("post_attention_layernorm.weight"), count: c.hiddenSize),
            gate: try linear("mlp.gate_proj", c.intermediateSize, c.hiddenSize, bias: c.mlpBias),
            up: try linear("mlp.up_proj", c.intermediateSize, c.hiddenSize, bias: c.mlpBias),
            down: try linear("mlp.down_proj", c.hiddenSize, c.intermediateSize, bias: c.mlpBias))
    }

    /// Drops the pages of every tensor of layer `index` from memory (`CheckpointReader.release`).
    /// `layer(_:)` already releases each tensor once converted; this covers tensors it did not read.
    public func releaseLayer(_ index: Int) {
        let prefix = "model.layers.\(index)."
        for name in reader.names where name.hasPrefix(prefix) { reader.release(name) }
    }

    /// Starts reading every tensor of layer `index` (`TensorStore.prefetch`) on a background
    /// queue, and returns at once; nothing for a layer the model does not have.
    public func prefetchLayer(_ index: Int) {
        guard index >= 0, index < config.numHiddenLayers else { return }
        Self.prefetch(layer: index, of: reader)
    }

    /// Starts reading layer `layer`'s tensors of `store` on a background queue.
    public static func prefetch(layer: Int, of store: any TensorStore) {
        let prefix = "model.layers.\(layer)."
        DispatchQueue.global(qos: .utility).async {
            for name in store.names where name.hasPrefix(prefix) { store.prefetch(name) }
        }
    }

    public func outputWeights() throws -> OutputWeights {
        let headName = config.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight"
        let norm = try vector("model.norm.weight", count: config.hiddenSize)
        let head = try matrix(headName, rows: config.vocabSize, columns: config.hiddenSize)
        return OutputWeights(norm: norm, head: head)
    }

    /// Checks, before anything is read or allocated from it, that the store holds every tensor
    /// the config requires in a float dtype and the shape the config implies (from the headers:
    /// no weight is read). What `coordinator eval` and `inspect` run first, so that a directory
    /// `inspect` calls valid is one eval loads.
    /// - Throws: `ModelError` naming the first tensor missing, of another dtype or shape.
    public func checkLayout() throws {
        for (name, shape) in Self.requiredTensors(config) {
            guard reader.contains(name) else { throw missing(name) }
            try check(name, shape: shape, try reader.layout(of: name))
        }
    }

    /// Reads every tensor the config requires, one at a time, and checks that each holds only
    /// finite values (after `checkLayout`): what `inspect` runs unless told to read headers only.
    /// Memory: one tensor as float32 at a time. `progress` is called after each tensor.
    /// - Throws: `ModelError.nonFinite` naming the tensor and the position of its first NaN or Inf.
    public func checkValues(progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws {
        let required = Self.requiredTensors(config)
        for (index, (name, shape)) in required.enumerated() {
            _ = try floats(name, shape: shape)
            progress(index + 1, required.count)
        }
    }

    /// Every tensor the forward pass reads, with the shape `config` implies, in checkpoint order.
    public static func requiredTensors(_ c: ModelConfig) -> [(name: String, shape: [Int])] {
        var tensors: [(name: String, shape: [Int])] = [("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize])]
        for index in 0..<c.numHiddenLayers {
            let name = { LayerWeights.tensorName(layer: index, $0) }
            tensors.append((name("input_layernorm.weight"), [c.hiddenSize]))
            tensors.append((name("post_attention_layernorm.weight"), [c.hiddenSize]))
            if c.qkNorm {
                tensors.append((name("self_attn.q_norm.weight"), [c.headDim]))
                tensors.append((name("self_attn.k_norm.weight"), [c.headDim]))
            }
            for stage in LayerStage.allCases {
                let hasBias = LayerWeights.hasBias(stage, c)
                for (module, shape) in zip(stage.linearNames, stage.weightShapes(c)) {
                    tensors.append((name(module + ".weight"), [shape.rows, shape.columns]))
                    if hasBias { tensors.append((name(module + ".bias"), [shape.rows])) }
                }
            }
        }
        tensors.append(("model.norm.weight", [c.hiddenSize]))
        if !c.tieWordEmbeddings { tensors.append(("lm_head.weight", [c.vocabSize, c.hiddenSize])) }
        return tensors
    }

    // MARK: - Reading checked tensors

    private func missing(_ name: String) -> ModelError {
        ModelError(.missingTensor, tensor: name, "missing from the checkpoint at \(reader.path), which the config (\(config.modelType.rawValue)) requires")
    }

    /// A tensor's `layout` checked to hold floats and have `shape`.
    private func check(_ name: String, shape: [Int], _ layout: (dtype: DType, shape: [Int])) throws {
        guard [.f32, .f16, .bf16].contains(layout.dtype) else {
            throw ModelError(.badDType, tensor: name, "stored as \(layout.dtype.rawValue); expected F32, F16 or BF16")
        }
        guard layout.shape == shape else {
            throw ModelError(.badShape, tensor: name, "expected shape \(shape) (from config.json), found \(layout.shape)")
        }
    }

    /// The tensor `name`, checked to exist, hold floats and have `shape`.
    private func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard reader.contains(name) else { throw missing(name) }
        let tensor = try reader.tensor(name)
        try check(name, shape: shape, (tensor.dtype, tensor.shape))
        return tensor
    }

    private func floats(_ name: String, shape: [Int]) throws -> [Float] {
        let values = try tensor(name, shape: shape).floats()
        reader.release(name)
        if let position = values.withUnsafeBufferPointer({ LayerMath.firstNonFinite($0) }) {
            throw ModelError(.nonFinite, tensor: name, "element \(position) (of shape \(shape)) is \(values[position]); weights must be finite")
        }
        return values
    }

    private func matrix(_ name: String, rows: Int, columns: Int) throws -> Matrix {
        Matrix(rows: rows, columns: columns, values: try floats(name, shape: [rows, columns]))
    }

    private func vector(_ name: String, count: Int) throws -> [Float] {
        try floats(name, shape: [count])
    }
}
