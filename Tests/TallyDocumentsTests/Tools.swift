import Foundation
import TallyDocuments

/// The external checks, as in TallyPDFTests: `qpdf --check` and pypdf 7.1.1 (the repository's .venv). Without them
/// the tests that need them skip, saying so; with TALLY_PDF_TOOLS=1 (scripts/test) a missing tool fails them.
enum Tools {
    static let install = "run scripts/install-deps; TALLY_PDF_TOOLS=1 turns this skip into a failure"
    static let required = ProcessInfo.processInfo.environment["TALLY_PDF_TOOLS"] == "1"
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let python = packageRoot.appendingPathComponent(".venv/bin/python").path
    static let qpdf = onPath("qpdf")
    static let hasQPDF = qpdf != nil
    static let hasPypdf = FileManager.default.isExecutableFile(atPath: python)
    /// The Japanese and emoji fallbacks: without them those names are drawn as boxes (and still extract).
    static let hasFallbackFonts = [
        "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
        "/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf",
    ].allSatisfy { FileManager.default.fileExists(atPath: $0) }

    static func onPath(_ tool: String) -> String? {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return directories.map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

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

    static func temporaryFile(_ bytes: [UInt8], name: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tally-documents-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// qpdf's verdict: exit 0, "No syntax or stream encoding errors found", no warning.
    static func qpdfCheck(_ bytes: [UInt8], name: String) throws -> String? {
        guard let qpdf else { throw ToolError("qpdf is not installed: \(install)") }
        let result = try run(qpdf, ["--check", try temporaryFile(bytes, name: name)])
        let clean =
            result.status == 0 && result.stdout.contains("No syntax or stream encoding errors found")
            && result.stderr.isEmpty && !result.stdout.uppercased().contains("WARNING")
        return clean ? nil : "\(result.stdout) \(result.stderr)"
    }

    struct Extraction: Decodable {
        var version: String
        var pages: [String]
        var title: String?
        var problems: [String]

        var text: String { pages.joined(separator: "\n") }
    }

    /// pypdf in strict mode, any warning it logs or raises collected as a problem.
    static func pypdf(_ bytes: [UInt8], name: String) throws -> Extraction {
        guard hasPypdf else { throw ToolError("\(python) is missing: \(install)") }
        let script = """
            import json, logging, sys, warnings
            problems = []
            class Collect(logging.Handler):
                def emit(self, record): problems.append(record.getMessage())
            logging.getLogger("pypdf").addHandler(Collect(level=logging.WARNING))
            warnings.simplefilter("error")
            import pypdf
            def clean(text):
                return None if text is None else text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            reader = pypdf.PdfReader(sys.argv[1], strict=True)
            pages = [clean(page.extract_text()) for page in reader.pages]
            print(json.dumps({"version": pypdf.__version__, "pages": pages, "title": clean(reader.metadata.title),
                              "problems": problems}))
            """
        let result = try run(python, ["-c", script, try temporaryFile(bytes, name: name)])
        guard result.status == 0 else { throw ToolError("pypdf refused the file: \(result.stderr)") }
        return try JSONDecoder().decode(Extraction.self, from: Data(result.stdout.utf8))
    }

    /// When TALLY_DOCUMENTS_PREVIEW names a directory, the sample documents are written there to look at
    /// (`pdftoppm -png -r 80 statement.pdf statement`).
    static func preview(_ bytes: [UInt8], name: String) throws {
        guard let directory = ProcessInfo.processInfo.environment["TALLY_DOCUMENTS_PREVIEW"], !directory.isEmpty else {
            return
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: directory).appendingPathComponent(name))
    }
}

struct ToolError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
