import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import TallyClient
import XCTest

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A real `tally serve` on a temporary SQLite data directory, with a project `web` and an `ingest,read` token made
/// through the CLI (as e2e/conftest.py does).
final class TallyProcess: @unchecked Sendable {
    let binary: URL
    let dataDirectory: URL
    let port: Int
    let token: String
    var baseURL: String { "http://127.0.0.1:\(port)" }
    private var process: Process?

    /// The binary: `TALLY_BIN`, else a `tally` built next to the test bundle (`.build/<config>/tally`); nil when
    /// there is none.
    static func findBinary() -> URL? {
        let fileManager = FileManager.default
        if let path = ProcessInfo.processInfo.environment["TALLY_BIN"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        var directories: [URL] = []
        // Linux: the bundle is an executable in .build/<config>; macOS: a directory bundle in .build/<config>.
        directories.append(Bundle(for: TallyProcess.self).bundleURL.deletingLastPathComponent())
        directories.append(Bundle.main.bundleURL)
        directories.append(Bundle.main.bundleURL.deletingLastPathComponent())
        if let executable = Bundle.main.executableURL {
            directories.append(executable.deletingLastPathComponent())
        }
        if let argument = CommandLine.arguments.first {
            directories.append(URL(fileURLWithPath: argument).resolvingSymlinksInPath().deletingLastPathComponent())
        }
        directories.append(URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent())
        for directory in directories {
            // Inside a macOS bundle (…/X.xctest/Contents/MacOS) walk up to the build directory too.
            var candidate = directory
            for _ in 0..<4 {
                let binary = candidate.appendingPathComponent("tally")
                var isDirectory: ObjCBool = false
                if fileManager.fileExists(atPath: binary.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                    fileManager.isExecutableFile(atPath: binary.path)
                {
                    return binary
                }
                candidate = candidate.deletingLastPathComponent()
            }
        }
        return nil
    }

    /// Starts a fresh Tally, or skips the test when no binary can be found.
    static func start() async throws -> TallyProcess {
        guard let binary = findBinary() else {
            throw XCTSkip(
                "no tally binary: set TALLY_BIN, or build the `tally` product next to the test bundle "
                    + "(swift build --build-tests with the test target depending on it)")
        }
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            // TALLY_BIN named something that is not there: a mistake, not a reason to skip.
            throw Failure("TALLY_BIN=\(binary.path) is not an executable file")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tally-client-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            _ = try runCLI(binary, ["projects", "create", "web", "--data-dir", directory.path])
            let output = try runCLI(
                binary,
                ["tokens", "create", "--project", "web", "--scopes", "ingest,read", "--data-dir", directory.path])
            let token = output.trimmingCharacters(in: .whitespacesAndNewlines)
            guard token.hasPrefix("tly_") else {
                throw Failure("tally tokens create printed no token: \(output)")
            }
            let server = TallyProcess(
                binary: binary, dataDirectory: directory, port: try await freePort(), token: token)
            do {
                try await server.serve()
            } catch {
                await server.stop()
                throw error
            }
            return server
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    private init(binary: URL, dataDirectory: URL, port: Int, token: String) {
        self.binary = binary
        self.dataDirectory = dataDirectory
        self.port = port
        self.token = token
    }

    /// `tally serve` on the same port and data directory; returns once `/readyz` answers 200.
    func serve() async throws {
        precondition(process == nil, "already serving")
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--port", "\(port)", "--data-dir", dataDirectory.path]
        let logURL = dataDirectory.appendingPathComponent("serve-\(port).log")
        if !FileManager.default.fileExists(atPath: logURL.path) {
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logURL)
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw Failure("tally serve exited with \(process.terminationStatus); log: \(self.log())")
            }
            var request = HTTPClientRequest(url: baseURL + "/readyz")
            request.method = .GET
            if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(1)),
                response.status == .ok
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure("tally serve did not become ready in 60 s; log: \(self.log())")
    }

    /// SIGTERM, then SIGKILL after 10 s; waits for the exit.
    func stop() async {
        guard let process else { return }
        self.process = nil
        if process.isRunning {
            process.terminate()
            let deadline = ContinuousClock.now + .seconds(10)
            while process.isRunning && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(50))
            }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                print(
                    "tally serve (port \(port)) did not exit within 10 s of SIGTERM and was killed; its log:\n\(log())")
            }
        }
        process.waitUntilExit()
    }

    /// Stops the server and removes its data directory.
    func tearDown() async {
        await stop()
        try? FileManager.default.removeItem(at: dataDirectory)
    }

    func log() -> String {
        let url = dataDirectory.appendingPathComponent("serve-\(port).log")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return String(text.suffix(4_000))
    }

    /// The project's events, newest first, as the events API lists them (`GET /api/v1/events?limit=1000`).
    func events() async throws -> [TallyEvent] {
        var request = HTTPClientRequest(url: baseURL + "/api/v1/events?limit=1000")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else {
            throw Failure("GET /api/v1/events: \(response.status.code) \(String(buffer: body))")
        }
        struct Page: Decodable {
            let data: [TallyEvent]
        }
        let page = try JSONDecoder().decode(Page.self, from: Data(String(buffer: body).utf8))
        return page.data
    }

    private static func runCLI(_ binary: URL, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let error = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(
                "tally \(arguments.joined(separator: " ")) exited with \(process.terminationStatus): "
                    + (String(data: error, encoding: .utf8) ?? ""))
        }
        return String(data: output, encoding: .utf8) ?? ""
    }

    /// A port nothing listens on now (bound to port 0 by NIO, then closed).
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
