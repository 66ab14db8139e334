import Foundation
import TallyPDF

// pdf-sample RECEIPT.pdf STATEMENT.pdf — writes a sample receipt and a two-page monthly statement from fixed
// data, to look at the layout (render with `pdftoppm -png -r 80`). Fonts come from Debian's packages; see README.
let arguments = CommandLine.arguments.dropFirst()
guard arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: pdf-sample RECEIPT.pdf STATEMENT.pdf\n".utf8))
    exit(2)
}

func loadFont(_ path: String) -> PDFFont? {
    guard let bytes = FileManager.default.contents(atPath: path) else {
        FileHandle.standardError.write(Data("pdf-sample: \(path) is missing; its characters will show as boxes\n".utf8))
        return nil
    }
    do {
        return try PDFFont(bytes: Array(bytes))
    } catch {
        FileHandle.standardError.write(Data("pdf-sample: \(path): \(error)\n".utf8))
        return nil
    }
}

let fallbacks = [SampleFonts.japanese, SampleFonts.symbols].compactMap(loadFont)
guard let regular = loadFont(SampleFonts.regular), let bold = loadFont(SampleFonts.bold) else { exit(1) }
let theme = Theme(regular: FontChain([regular] + fallbacks), bold: FontChain([bold] + fallbacks))

do {
    for (path, document) in zip(arguments, [sampleReceipt(theme), sampleStatement(theme)]) {
        try Data(try document.write()).write(to: URL(fileURLWithPath: path))
        print("wrote \(path) (\(document.pages.count) page\(document.pages.count == 1 ? "" : "s"))")
    }
} catch {
    FileHandle.standardError.write(Data("pdf-sample: \(error)\n".utf8))
    exit(1)
}
