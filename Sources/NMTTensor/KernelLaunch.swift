/// The one narrow interface between tensor operations and kernels.
///
/// A kernel is a pure function of its input buffers into its output buffers: it allocates
/// nothing, keeps no state, and touches no memory other than the buffers it is handed.
/// Scalar parameters (sizes, strides, rates) are captured by the body when the launch is
/// built; anything that changes from one training step to the next (data, random keys)
/// is a buffer. That contract is what lets a static-shape device record the sequence of
/// launches of a training step once (``KernelRecorder``), plan the buffers' lifetimes
/// into one arena, and replay the bodies with arena pointers on new inputs.
///
/// Sendable: immutable; its body touches only its own buffers, and a recorded program is
/// replayed by one thread at a time (each replica owns its program).
public struct KernelLaunch: @unchecked Sendable {
    /// A short, stable name for the kernel (for traces, profiles and error messages).
    public let name: StaticString
    /// The buffers the kernel reads, in the order the body expects them.
    public let inputs: [KernelBuffer]
    /// The buffers the kernel writes, in the order the body expects them. A buffer that is
    /// read and updated in place appears in both lists.
    public let outputs: [KernelBuffer]
    /// The kernel itself, run with one pointer per input and output.
    public let body: (KernelArguments) -> Void

    /// Creates a launch description.
    public init(
        _ name: StaticString, inputs: [KernelBuffer], outputs: [KernelBuffer],
        body: @escaping (KernelArguments) -> Void
    ) {
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.body = body
    }

    /// Runs the kernel on its own buffers.
    public func execute() {
        body(KernelArguments(inputs: inputs.map { UnsafeRawPointer($0.base) }, outputs: outputs.map(\.base)))
    }
}

/// The raw pointers a kernel body runs on: its own buffers when executed eagerly, arena
/// slots when a recorded program is replayed.
public struct KernelArguments {
    /// One pointer per ``KernelLaunch/inputs`` entry.
    public let inputs: [UnsafeRawPointer]
    /// One pointer per ``KernelLaunch/outputs`` entry.
    public let outputs: [UnsafeMutableRawPointer]

    /// Creates arguments from raw pointers.
    public init(inputs: [UnsafeRawPointer], outputs: [UnsafeMutableRawPointer]) {
        self.inputs = inputs
        self.outputs = outputs
    }

    /// Input `index` as `Float` elements.
    @inline(__always) public func input(_ index: Int) -> UnsafePointer<Float> {
        inputs[index].assumingMemoryBound(to: Float.self)
    }
    /// Input `index` as `Int32` elements (token ids, row indices).
    @inline(__always) public func indices(_ index: Int) -> UnsafePointer<Int32> {
        inputs[index].assumingMemoryBound(to: Int32.self)
    }
    /// Input `index` as `UInt32` words (random keys).
    @inline(__always) public func words(_ index: Int) -> UnsafePointer<UInt32> {
        inputs[index].assumingMemoryBound(to: UInt32.self)
    }
    /// Output `index` as `Float` elements.
    @inline(__always) public func output(_ index: Int) -> UnsafeMutablePointer<Float> {
        outputs[index].assumingMemoryBound(to: Float.self)
    }
    /// Output `index` as `Int32` elements.
    @inline(__always) public func outputIndices(_ index: Int) -> UnsafeMutablePointer<Int32> {
        outputs[index].assumingMemoryBound(to: Int32.self)
    }
}

/// Receives every kernel launch made by operations on tensors that belong to a
/// ``GradientTape`` with a recorder attached, in execution order.
///
/// A static-shape device implements this to trace a training step into a program.
/// Launches of tensors that belong to no tape (constants computed outside the step)
/// are not recorded; their buffers appear as inputs of recorded launches and stay
/// constant on replay.
public protocol KernelRecorder: AnyObject {
    /// Called with each launch in order: after it has executed, or instead of executing it
    /// when ``executesLaunches`` is false.
    func record(_ launch: KernelLaunch)

    /// Whether the recorded launches also run (true by default). A recorder that only
    /// compiles a program says false: tracing then costs no arithmetic and touches no
    /// memory of the traced buffers, whose contents stay undefined until the program runs.
    /// Such a trace must not read a traced tensor's values on the host.
    var executesLaunches: Bool { get }
}

extension KernelRecorder {
    /// Recorders run what they record unless they say otherwise.
    public var executesLaunches: Bool { true }
}

enum KernelDispatch {
    /// Executes `launch` now (unless the tape's recorder only records) and hands it to the
    /// tape's recorder, if any.
    @inline(__always)
    static func run(_ launch: KernelLaunch, on tape: GradientTape?) {
        guard let recorder = tape?.recorder else { return launch.execute() }
        if recorder.executesLaunches { launch.execute() }
        recorder.record(launch)
    }
}
