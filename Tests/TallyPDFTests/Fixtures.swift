import Foundation
import TallyPDF

/// Fonts and tools the tests use. DejaVu Sans comes with fonts-dejavu-core (in the base image) and is required;
/// the Japanese and symbol fonts, qpdf, poppler and the pypdf venv come from scripts/install-deps.
/// Tests needing those skip, saying why, unless TALLY_PDF_TOOLS=1, which makes anything missing a failure.
enum Fixtures {
    static let dejaVuPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    static let dejaVuBoldPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
    /// IPAGothic, Debian package fonts-ipafont-gothic: a glyf TrueType Japanese font, despite its directory name.
    static let japanesePath = "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf"
    /// Symbola, Debian package fonts-symbola: outline (glyf) emoji and symbols.
    static let symbolsPath = "/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf"

    static func bytes(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FixtureError("\(path) is missing: run scripts/install-deps")
        }
        return Array(data)
    }

    private static let loaded: [String: Result<PDFFont, any Error>] = Dictionary(
        uniqueKeysWithValues: [dejaVuPath, dejaVuBoldPath, japanesePath, symbolsPath].map { path in
            (path, Result { try PDFFont(bytes: bytes(path)) })
        })

    static func font(_ path: String) throws -> PDFFont { try loaded[path]!.get() }
    static func dejaVu() throws -> PDFFont { try font(dejaVuPath) }

    /// DejaVu Sans → IPAGothic → Symbola, the chain Tally's documents use.
    static func fullChain() throws -> FontChain {
        FontChain([try font(dejaVuPath), try font(japanesePath), try font(symbolsPath)])
    }

    static let date = PDFDate(year: 2026, month: 1, day: 31, hour: 23, minute: 59, second: 58)

    // MARK: Tools

    static let toolsRequired = ProcessInfo.processInfo.environment["TALLY_PDF_TOOLS"] == "1"
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let python = packageRoot.appendingPathComponent(".venv/bin/python").path

    static func onPath(_ tool: String) -> String? {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return directories.map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static let hasOptionalFonts = [japanesePath, symbolsPath].allSatisfy { FileManager.default.fileExists(atPath: $0) }
    static let hasQPDF = onPath("qpdf") != nil
    static let hasPypdf = FileManager.default.isExecutableFile(atPath: python)
    static let hasPoppler = onPath("pdftotext") != nil

    /// Runs a program and returns its exit status and output; throws when it cannot be started at all.
    static func run(_ executable: String, _ arguments: [String]) throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read before waiting, so a large output cannot fill the pipe and stall the child.
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self)
        )
    }

    /// Writes `bytes` to a fresh temporary file and returns its path.
    static func temporaryPDF(_ bytes: [UInt8], name: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tally-pdf-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
