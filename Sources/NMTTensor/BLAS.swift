#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Facts about, and controls of, the BLAS library the process runs on.
///
/// On Debian the library links the generic `libblas.so.3`, which the system's
/// alternatives point at OpenBLAS when `libopenblas-dev` is installed and at the netlib
/// reference BLAS otherwise (several times slower; see Documentation/Performance.md).
/// OpenBLAS's own entry points are looked up at run time, so the same binary works on
/// either.
public enum BLAS {
    private typealias SetThreads = @convention(c) (Int32) -> Void
    private typealias GetThreads = @convention(c) () -> Int32
    private typealias GetConfig = @convention(c) () -> UnsafePointer<CChar>?

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        let handle = dlopen(nil, RTLD_NOW)
        return dlsym(handle, name)
    }

    /// A description of the BLAS in use: OpenBLAS's configuration string, Accelerate, or
    /// "reference BLAS (netlib)" when neither is found.
    public static var implementation: String {
        #if canImport(Darwin)
        return "Accelerate"
        #else
        if let pointer = symbol("openblas_get_config") {
            let getConfig = unsafeBitCast(pointer, to: GetConfig.self)
            if let text = getConfig() { return "OpenBLAS " + String(cString: text) }
            return "OpenBLAS"
        }
        return "reference BLAS (netlib)"
        #endif
    }

    /// The number of threads BLAS uses for one product, or nil when the library offers no
    /// control (reference BLAS is single-threaded; Accelerate manages its own).
    ///
    /// Setting it affects the whole process: BLAS has one global pool. Use 1 when the
    /// caller already runs one product per core (for example replicas on threads).
    public static var threadCount: Int? {
        get {
            guard let pointer = symbol("openblas_get_num_threads") else { return nil }
            return Int(unsafeBitCast(pointer, to: GetThreads.self)())
        }
        set {
            guard let newValue, let pointer = symbol("openblas_set_num_threads") else { return }
            unsafeBitCast(pointer, to: SetThreads.self)(Int32(max(1, newValue)))
        }
    }
}
