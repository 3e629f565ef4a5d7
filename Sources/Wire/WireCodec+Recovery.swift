import CWire
import JobProtocol
import Kernels
import Model
import Tensors

/// The recovery and rebalancing requests and replies (Rewind, Adopt, ReplayLayer, MergeAdopted,
/// Release and their answers) to and from their protocol messages; the rules are those of
/// `WireCodec+JobRequests.swift`.
extension WireCodec {
    static func recoveryFrames(of request: WorkerRequest) -> [NamedTensor] {
        switch request {
        case .adopt(let samples):
            var frames = sequenceFrames(samples.sequences)
            if let embeddings = samples.embeddings { frames.append(NamedTensor("embeddings", embeddings)) }
            if let states = samples.states { frames.append(NamedTensor("states", states)) }
            return frames
        case .replay(let replay):
            var frames = prefixed("weights.", replay.weights ?? [:])
            for (position, step) in replay.steps.enumerated() {
                switch step {
                case .fold(let fold): frames += foldFrames(fold).map { NamedTensor("\(position).\($0.name)", $0.tensor) }
                case .apply(_, let weights): frames += applyFrames(weights).map { NamedTensor("\(position).\($0.name)", $0.tensor) }
                }
            }
            return frames
        default:
            return []
        }
    }

    static func setRecoveryBody(_ request: WorkerRequest, of envelope: inout Calibrate__Wire__Envelope, arena: CArena) {
        switch request {
        case .rewind(let layer):
            var m = Calibrate__Wire__Rewind()
            calibrate__wire__rewind__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(layer))
            envelope.rewind = arena.object(m)
        case .adopt(let samples):
            var m = Calibrate__Wire__Adopt()
            calibrate__wire__adopt__init(&m)
            (m.n_blocks, m.blocks) = (samples.blocks.count, encodeRanges(samples.blocks, arena))
            envelope.adopt = arena.object(m)
        case .replay(let replay):
            var m = Calibrate__Wire__ReplayLayer()
            calibrate__wire__replay_layer__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(replay.layer))
            (m.n_steps, m.steps) = (replay.steps.count, arena.array(replay.steps.map { step in
                var s = Calibrate__Wire__ReplayStep()
                calibrate__wire__replay_step__init(&s)
                if case .apply(let stage, _) = step { (s.has_stage, s.stage) = (1, wire(stage)) }
                return Optional(arena.object(s))
            }))
            envelope.replay_layer = arena.object(m)
        case .mergeAdopted:
            var m = Calibrate__Wire__MergeAdopted()
            calibrate__wire__merge_adopted__init(&m)
            envelope.merge_adopted = arena.object(m)
        case .release(let blocks, let states):
            var m = Calibrate__Wire__Release()
            calibrate__wire__release__init(&m)
            (m.n_blocks, m.blocks) = (blocks.count, encodeRanges(blocks, arena))
            (m.has_states, m.states) = (1, states ? 1 : 0)
            envelope.release = arena.object(m)
        default:
            preconditionFailure("\(Body.request(request).type) is not a recovery request")
        }
    }

    static func setRecoveryBody(_ reply: WorkerReply, of envelope: inout Calibrate__Wire__Envelope, arena: CArena) {
        switch reply {
        case .rewound(let layer):
            var m = Calibrate__Wire__Rewound()
            calibrate__wire__rewound__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(layer))
            envelope.rewound = arena.object(m)
        case .adopted(let tokens):
            var m = Calibrate__Wire__Adopted()
            calibrate__wire__adopted__init(&m)
            (m.has_token_count, m.token_count) = (1, UInt64(tokens))
            envelope.adopted = arena.object(m)
        case .replayed(let layer):
            var m = Calibrate__Wire__LayerReplayed()
            calibrate__wire__layer_replayed__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(layer))
            envelope.layer_replayed = arena.object(m)
        case .merged(let tokens):
            var m = Calibrate__Wire__Merged()
            calibrate__wire__merged__init(&m)
            (m.has_token_count, m.token_count) = (1, UInt64(tokens))
            envelope.merged = arena.object(m)
        case .released(let tokens, _):
            var m = Calibrate__Wire__Released()
            calibrate__wire__released__init(&m)
            (m.has_token_count, m.token_count) = (1, UInt64(tokens))
            envelope.released = arena.object(m)
        default:
            preconditionFailure("\(Body.reply(reply).type) is not a recovery reply")
        }
    }

    static func decodeRecoveryRequest(of envelope: Calibrate__Wire__Envelope, type: MessageType, tensors: [String: Tensor]) throws(WireError) -> WorkerRequest {
        switch type {
        case .rewind:
            let m = envelope.rewind.pointee
            return .rewind(layer: Int(try required(m.has_layer, m.layer, "Rewind.layer")))
        case .adopt:
            let m = envelope.adopt.pointee
            let blocks = try decodeRanges(m.blocks, m.n_blocks, "Adopt.blocks")
            guard let tokens = tensors["tokens"], let lengths = tensors["lengths"] else {
                throw WireError(.invalidArgument, "Adopt carries no tokens or lengths frame")
            }
            return .adopt(AdoptedSamples(blocks: blocks, sequences: try decodeSequences(tokens: tokens, lengths: lengths, "Adopt"),
                                         embeddings: tensors["embeddings"], states: tensors["states"]))
        case .replayLayer:
            let m = envelope.replay_layer.pointee
            let layer = Int(try required(m.has_layer, m.layer, "ReplayLayer.layer"))
            var steps: [LayerReplay.Step] = []
            for (position, pointer) in UnsafeBufferPointer(start: m.steps, count: m.n_steps).enumerated() {
                guard let step = pointer?.pointee else { throw WireError(.malformed, "ReplayLayer.steps holds a null step") }
                let frames = group(tensors, "\(position).") ?? [:]
                if step.has_stage != 0 {
                    let stage = try stage(step.has_stage, step.stage, "ReplayLayer.steps.stage")
                    steps.append(.apply(stage, try decodeApplied(frames, layer: layer, stage: stage)))
                } else {
                    steps.append(.fold(try decodeFold(frames, "ReplayLayer step \(position)")))
                }
            }
            return .replay(LayerReplay(layer: layer, weights: group(tensors, "weights."), steps: steps))
        case .mergeAdopted:
            return .mergeAdopted
        case .release:
            let m = envelope.release.pointee
            return .release(blocks: try decodeRanges(m.blocks, m.n_blocks, "Release.blocks"), states: m.has_states != 0 && m.states != 0)
        default:
            throw WireError(.unknownType, "\(type) is not a recovery request")
        }
    }

    static func decodeRecoveryReply(of envelope: Calibrate__Wire__Envelope, type: MessageType, tensors: [String: Tensor]) throws(WireError) -> WorkerReply {
        func tokens(_ has: protobuf_c_boolean, _ value: UInt64, _ field: String) throws(WireError) -> Int {
            let count = try required(has, value, field)
            guard count <= UInt64(Int.max) else { throw WireError(.malformed, "\(field) is \(count)") }
            return Int(count)
        }
        switch type {
        case .rewound:
            let m = envelope.rewound.pointee
            return .rewound(layer: Int(try required(m.has_layer, m.layer, "Rewound.layer")))
        case .adopted:
            let m = envelope.adopted.pointee
            return .adopted(tokens: try tokens(m.has_token_count, m.token_count, "Adopted.token_count"))
        case .layerReplayed:
            let m = envelope.layer_replayed.pointee
            return .replayed(layer: Int(try required(m.has_layer, m.layer, "LayerReplayed.layer")))
        case .merged:
            let m = envelope.merged.pointee
            return .merged(tokens: try tokens(m.has_token_count, m.token_count, "Merged.token_count"))
        case .released:
            let m = envelope.released.pointee
            return .released(tokens: try tokens(m.has_token_count, m.token_count, "Released.token_count"), states: tensors["states"])
        default:
            throw WireError(.unknownType, "\(type) is not a recovery reply")
        }
    }
}
