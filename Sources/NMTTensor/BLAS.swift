import Synchronization

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
    private typealias DlAddr = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?) -> Int32

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        let handle = dlopen(nil, RTLD_NOW)
        return dlsym(handle, name)
    }

    /// A description of the BLAS that `cblas_sgemm` resolves to: the library file it lives
    /// in, plus OpenBLAS's configuration string when that file is OpenBLAS.
    ///
    /// The file is asked for rather than a symbol: LAPACK may load OpenBLAS alongside
    /// another BLAS, so OpenBLAS's symbols being present does not mean it does the products.
    public static var implementation: String {
        #if canImport(Darwin)
        return "Accelerate"
        #else
        guard let sgemm = symbol("cblas_sgemm") else { return "unknown BLAS" }
        // dladdr is a GNU extension that Swift's Glibc module does not declare; reach it
        // like the OpenBLAS entry points. Dl_info starts with `const char *dli_fname`
        // followed by three more pointers.
        guard let dladdrPointer = symbol("dladdr") else { return "unknown BLAS" }
        let dladdr = unsafeBitCast(dladdrPointer, to: DlAddr.self)
        let info = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: 4)
        defer { info.deallocate() }
        guard dladdr(sgemm, info) != 0, let file = info[0] else { return "unknown BLAS" }
        var path = String(cString: file)
        if let resolved = realpath(file, nil) {
            path = String(cString: resolved)
            free(resolved)
        }
        guard path.contains("openblas") else { return "\(path) (not OpenBLAS: reference BLAS is far slower)" }
        if let pointer = symbol("openblas_get_config"), let text = unsafeBitCast(pointer, to: GetConfig.self)() {
            return "\(path) (\(String(cString: text)))"
        }
        return path
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
            threadCountCache.withLock { $0 = threadCount ?? 1 }
        }
    }

    /// ``threadCount`` as last read or set through this type (1 when BLAS offers no
    /// control), read by the matrix-product kernel on every call without a `dlsym`.
    package static var cachedThreadCount: Int { threadCountCache.withLock { $0 } }
    private static let threadCountCache = Mutex(threadCount ?? 1)
}
