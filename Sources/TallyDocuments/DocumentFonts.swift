import TallyPDF

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The fonts documents are drawn in: DejaVu Sans, compiled in so a receipt renders the same on any host, then the
/// host's Japanese and symbol fonts when it has them (IPAGothic for CJK, Symbola for emoji), which are too large to
/// compile in. A character no font has is drawn as a box but still extracts as itself.
public struct DocumentFonts: Sendable {
    public let regular: FontChain
    public let bold: FontChain

    public init(regular: FontChain, bold: FontChain) {
        self.regular = regular
        self.bold = bold
    }

    /// Fallbacks tried after DejaVu Sans, in order, where Debian's packages put them (docs/pdf.md, "Fonts").
    static let fallbackPaths = [
        "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
        "/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf",
    ]

    /// The compiled-in DejaVu Sans (regular, bold) first, then each fallback that exists and loads; a fallback that
    /// fails to load (a .ttc collection, a CFF font, a damaged file) is skipped. Loaded once per process.
    public static func standard() throws -> DocumentFonts { try loaded.get() }

    /// A `static let` is initialised once, atomically, on first use: the fonts are parsed once however many
    /// documents are rendered concurrently, and shared (PDFFont is immutable).
    private static let loaded: Result<DocumentFonts, DocumentFontsError> = {
        do throws(DocumentFontsError) {
            let fallbacks = fallbackPaths.compactMap { path in readFile(path).flatMap { try? PDFFont(bytes: $0) } }
            let regular = try embedded(EmbeddedFonts.dejaVuSans, "DejaVuSans.ttf")
            let bold = try embedded(EmbeddedFonts.dejaVuSansBold, "DejaVuSans-Bold.ttf")
            return .success(
                DocumentFonts(regular: FontChain([regular] + fallbacks), bold: FontChain([bold] + fallbacks)))
        } catch {
            return .failure(error)
        }
    }()

    private static func embedded(_ base64: String, _ name: String) throws(DocumentFontsError) -> PDFFont {
        guard let bytes = Base64.decode(base64) else {
            throw DocumentFontsError(
                description: "the compiled-in \(name) is not valid base64 (re-run scripts/embed-data)")
        }
        do {
            return try PDFFont(bytes: bytes)
        } catch {
            throw DocumentFontsError(description: "the compiled-in \(name) does not load: \(error)")
        }
    }

    /// The whole file, or nil when it is missing or unreadable (a missing fallback only costs its characters).
    static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let read = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if read > 0 { bytes += chunk[0..<read] }
            if read < chunk.count { return ferror(file) == 0 ? bytes : nil }
        }
    }
}

/// Why the compiled-in fonts could not be loaded: a build problem, never the input's fault.
public struct DocumentFontsError: Error, Sendable, CustomStringConvertible {
    public let description: String
}
