import Foundation
import XCTest

/// Runs an executable product of this package (built beside the test bundle) and returns
/// its standard output, standard error and exit status.
///
/// A program that dies by a signal (a trap, a crash) fails the calling test: whatever the
/// input, our programs must exit with a status and a message.
///
/// - Throws: `CocoaError(.fileNoSuchFile)` when the product is not built.
public func runProduct(_ name: String, _ arguments: [String], testCase: AnyClass) throws
    -> (output: String, error: String, status: Int32)
{
    try runProgram(productURL(name, testCase: testCase), arguments)
}

/// The path of an executable product built beside `testCase`'s bundle.
public func productURL(_ name: String, testCase: AnyClass) -> URL {
    var products = Bundle(for: testCase).bundleURL
    while products.pathExtension == "xctest" || products.lastPathComponent == "Contents" {
        products = products.deletingLastPathComponent()
    }
    return products.appendingPathComponent(name)
}

/// Runs `executable` and returns its standard output, standard error and exit status; a
/// death by signal fails the calling test (see ``runProduct(_:_:testCase:)``).
///
/// - Throws: `CocoaError(.fileNoSuchFile)` when the program does not exist.
public func runProgram(_ executable: URL, _ arguments: [String]) throws -> (output: String, error: String, status: Int32) {
    guard FileManager.default.fileExists(atPath: executable.path) else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: executable.path])
    }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let output = out.fileHandleForReading.readDataToEndOfFile(), error = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    if process.terminationReason == .uncaughtSignal {
        XCTFail("\(executable.lastPathComponent) \(arguments.joined(separator: " ")) died by signal \(process.terminationStatus)")
    }
    return (String(decoding: output, as: UTF8.self), String(decoding: error, as: UTF8.self), process.terminationStatus)
}

/// A new empty directory for one test, removed when the test ends.
public func temporaryDirectory(for test: XCTestCase, prefix: String = "nmt-test") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}
