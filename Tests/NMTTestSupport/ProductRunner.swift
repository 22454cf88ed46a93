import Foundation
import XCTest

/// Runs an executable product of this package (built beside the test bundle) and returns
/// its standard output, standard error and exit status.
///
/// A program that dies by a signal (a trap, a crash) fails the calling test: whatever the
/// input, our programs must exit with a status and a message.
///
/// - Throws: `CocoaError(.fileNoSuchFile)` when the product is not built.
public func runProduct(_ name: String, _ arguments: [String], testCase: AnyClass, environment: [String: String] = [:]) throws
    -> (output: String, error: String, status: Int32)
{
    try runProgram(productURL(name, testCase: testCase), arguments, environment: environment)
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
/// - Parameter environment: variables set for the program on top of this process's own.
public func runProgram(_ executable: URL, _ arguments: [String], environment: [String: String] = [:]) throws
    -> (output: String, error: String, status: Int32)
{
    guard FileManager.default.fileExists(atPath: executable.path) else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: executable.path])
    }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
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

/// Removes the file checksums from a checkpoint's manifest, as in a checkpoint written
/// before they were recorded: tests that damage a file on purpose reach the checks behind
/// the checksum this way.
public func removeFileChecksums(fromCheckpoint checkpoint: URL) throws {
    let url = checkpoint.appendingPathComponent("manifest.json")
    var manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    manifest["fileChecksums"] = nil
    try JSONSerialization.data(withJSONObject: manifest).write(to: url)
}
