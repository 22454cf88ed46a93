import NMTLayers
import NMTTensor
import NMTTestSupport
import NMTTransformer
import XCTest

/// The Swift model against an independent numpy implementation
/// (Scripts/reference/transformer_reference.py) with the same deterministic weights.
final class TransformerParityTests: XCTestCase {
    static let configuration = TransformerConfiguration(
        vocabularySize: 11, hiddenSize: 8, layerCount: 2, headCount: 2, filterSize: 12)
    let inputs = IndexTensor(shape: [2, 5], scalars: [3, 5, 7, 1, 0, 4, 9, 1, 0, 0])
    let targets = IndexTensor(shape: [2, 4], scalars: [2, 6, 1, 0, 8, 3, 10, 1])

    /// The model with parameter number k (in visiting order) filled as the script's `param`.
    static func referenceModel(_ configuration: TransformerConfiguration = configuration) throws -> Transformer {
        var model = try Transformer(configuration: configuration, key: RandomKey(seed: 0))
        var k = 0
        model.visitParameters { name, tensor in
            let amplitude = name.hasSuffix("scale") || name.hasSuffix("bias") ? 0.1 : 0.5
            let offset = name.hasSuffix("scale") ? 1.0 : 0.0
            let frequency = 0.1 + 0.037 * Double(k), phase = 0.3 * Double(k)
            tensor = Tensor(
                shape: tensor.shape,
                scalars: (0..<tensor.scalarCount).map { Float(amplitude * sin(Double($0) * frequency + phase) + offset) })
            k += 1
        }
        return model
    }

    // transformer_reference.py output
    let expectedLogits: [Float] = [
            0.161523375, 0.0129902408, -0.143422684, -0.212837298, -0.153147616, -0.00056070608,
            0.152366346, 0.212870034, 0.144249609, -0.0118707025, -0.160790425, -0.0512719472,
            -0.0756533942, -0.0541445844, 0.000207635082, 0.0544339491, 0.0756413077, 0.0509656785,
            -0.0046250236, -0.0574102591, -0.0753712109, -0.0476130171, 0.0642390404, -0.053815244,
            -0.139226003, -0.140184102, -0.0561083566, 0.0620019197, 0.142502675, 0.13656324,
            0.0477863788, -0.0699770554, -0.145293374, 0.123985947, -0.0141019731, -0.143635898,
            -0.186042195, -0.115597727, 0.0249667193, 0.150386701, 0.184584151, 0.10681533,
            -0.0357462247, -0.156624626, 0.121433564, 0.00486880769, -0.114649377, -0.164622761,
            -0.114738136, 0.00474504186, 0.121349962, 0.164345646, 0.107651454, -0.0143426749,
            -0.127636744, 0.148935394, 0.00612117779, -0.140406146, -0.201764943, -0.14073579,
            0.00566174904, 0.148624972, 0.201434292, 0.132056279, -0.0174253183, -0.156336965,
            -0.243127995, -0.154865698, 0.0273359854, 0.192956056, 0.24153161, 0.143597294,
            -0.0414412095, -0.20134201, -0.239111452, -0.131839102, 0.055405059, -0.0306465582,
            -0.0600431749, -0.0530184619, -0.0138334574, 0.0337428047, 0.0608510873, 0.0510479203,
            0.0102797998, -0.0367239224, -0.0614513918, -0.0489032923,
    ]
    let expectedLoss: Float = 1.87063141

    func testLogitsAndLossMatchNumpy() throws {
        for paddingRemoval in [true, false] {
            for method in EmbeddingMethod.allCases {
                let model = try Self.referenceModel(Self.configuration)
                let context = ForwardContext.inference(
                    plan: ExecutionPlan(embeddingMethod: method, removesPadding: paddingRemoval))
                let logits = model(inputs: inputs, targets: targets, context: context)
                // Float32 through 2+2 layers against float64: 1e-4 relative as required,
                // with a floor for logits near zero.
                assertClose(
                    logits, Tensor(shape: [2, 4, 11], scalars: expectedLogits), absoluteTolerance: 2e-6,
                    relativeTolerance: 1e-4, "padding removal \(paddingRemoval), \(method)")
                let loss = model.loss(inputs: inputs, targets: targets, context: context).scalar
                XCTAssertEqual(loss, expectedLoss, accuracy: expectedLoss * 1e-4)
            }
        }
    }
}
