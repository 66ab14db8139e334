import TallyWeb
import Testing

/// The QR encoder of the two-factor enrolment page, module by module against reference matrices. The fixtures come
/// from Python's segno 1.6.6, with `mode="byte", boost_error=False` and the same version, level and mask. One fix is
/// applied to segno first. Where the bit stream already ends on a codeword boundary, segno writes an extra 0x00
/// codeword; 7.4.10 says to start the 0xEC 0x11 pad codewords there (heuer/segno#148). Byte mode always ends on that
/// boundary, so only a text that fills its version exactly, such as the second fixture, matches stock segno.
///
/// Where a fixture leaves the mask to the encoder, the reference mask is the one with the lowest penalty from segno's
/// own scoring (`segno.encoder.evaluate_mask`) over the complete symbol, as 7.8.3.1 says ("the area to be evaluated
/// is the complete symbol"). segno's built-in choice scores the symbol before the format and version information are
/// drawn. For the otpauth URI that picks mask 5, not 4. For the other fixtures it makes no difference.
@Suite struct QRCodeTests {
    struct Fixture: Sendable, CustomTestStringConvertible {
        var text: String
        var level: QRCode.ErrorCorrection
        var version: Int
        var mask: Int
        /// Version and mask given to the encoder rather than chosen by it.
        var forced: Bool
        /// One line per row of modules, top first; 1 is dark.
        var rows: String

        var testDescription: String { "\(text.prefix(24)) \(level) v\(version) mask \(mask)" }
    }

    static let otpauthURI =
        "otpauth://totp/Tally:ann%40example.test?secret=JBSWY3DPEHPK3PXP&issuer=Tally&algorithm=SHA1&digits=6"
        + "&period=30"

    static let fixtures: [Fixture] = [
        Fixture(
            text: "Tally", level: .low, version: 1, mask: 0, forced: false,
            rows: """
                111111100101101111111
                100000100111001000001
                101110101101101011101
                101110100101001011101
                101110100010101011101
                100000100000101000001
                111111101010101111111
                000000001101100000000
                111011111111011000100
                101101011000001001011
                001101100100100011111
                010101010000001000010
                011101100100101010011
                000000001001010100100
                111111101111011100111
                100000101101110110000
                101110101101011100011
                101110100100001100110
                101110101110100010101
                100000101100001000010
                111111101100101001011
                """),
        // Fills version 1-L exactly (17 bytes), so stock segno gives this matrix too.
        Fixture(
            text: "Tally two-factor!", level: .low, version: 1, mask: 2, forced: false,
            rows: """
                111111100101001111111
                100000101111101000001
                101110100101001011101
                101110101111001011101
                101110100100001011101
                100000101001101000001
                111111101010101111111
                000000000100100000000
                111110111101110101010
                100100010101010010101
                000000100111111001110
                101010001011010101100
                010010100110101000010
                000000001010011011010
                111111101001111000110
                100000100011100101110
                101110101110101100000
                101110101100011111010
                101110101011110100100
                100000101010010001100
                111111101111101111010
                """),
        Fixture(
            text: "HELLO WORLD", level: .medium, version: 2, mask: 5, forced: true,
            rows: """
                1111111001100001101111111
                1000001010010110101000001
                1011101011011101001011101
                1011101010011000101011101
                1011101001000001101011101
                1000001000000001001000001
                1111111010101010101111111
                0000000011111011100000000
                1000001010101000111001110
                1010110001110100101111001
                0000001100111111110011011
                0101110101100100001001011
                1100011010101101101011101
                1011000101000000101101101
                1000111110011000011111011
                1000010001110001001101101
                1000001100010000111111000
                0000000011001111100011101
                1111111000010001101010001
                1000001001101100100010010
                1011101000101011111111100
                1011101001100011101010101
                1011101001111001001101001
                1000001001110010010111001
                1111111011100110010010101
                """),
        Fixture(
            text: "https://tally.example/settings/security", level: .high, version: 5, mask: 2, forced: false,
            rows: """
                1111111011010111011001000010101111111
                1000001010110011010100011111101000001
                1011101011110100001000110011101011101
                1011101001001010101010001110001011101
                1011101001101100101101101010001011101
                1000001010000110111100110001101000001
                1111111010101010101010101010101111111
                0000000011110001101001011010100000000
                0011101011011111011110011000011100111
                0000000011101000111011010111110101010
                1110001101011000100110001110001100111
                0101000010010001100111011010101010010
                0000001011010000110111100110011110110
                0111010111111101000000101010110101100
                1100101011111011101100100001011001011
                1100110011101011011001011000111100001
                1101001000001011011001111110011010110
                0111100110111100111110010000110100100
                0101111101111010001010111101111011011
                1101110000110101010010100011001110010
                1010011010111001101001110101011110111
                1111010000000110110010111100000101000
                0000011110011000100011111111011000111
                0101100100000000110001011100001100011
                1101001001011010011001111010011011111
                1110000111101000010101000001010100000
                1000011011100101101101111011101010001
                1010010100011010011100110001010000011
                1000101001000010110111111110111110111
                0000000010100101110001110101100010000
                1111111000010110001101100010101011011
                1000001000111101110111011000100010011
                1011101011100111111000000111111110101
                1011101011110111001000101100001111100
                1011101010100110001011000111110100001
                1000001001010000010000001011100101001
                1111111000111110100010000110001101111
                """),
        // Version 7 and up carry the version information blocks.
        Fixture(
            text: "version information", level: .quartile, version: 7, mask: 3, forced: true,
            rows: """
                111111100011011000000001111111110000101111111
                100000101101101111101111101111100001001000001
                101110101111010100101110010110000101001011101
                101110100100110101010111110101100001101011101
                101110100010001100011111101101011011101011101
                100000100111101010111000100011010000001000001
                111111101010101010101010101010101010101111111
                000000000111010000101000101001001000100000000
                011101100100100100111111100101001111000000110
                100101000011011101010100100110101100110110100
                100000111100111110000110111110010100010000010
                001100000110101111010001001011100100011110011
                101011111101111111100110001010000110110101111
                010111011010000011110000110010111111011100100
                101011111110100100000011110100010010111010100
                001011010011010010110001000010100011000101010
                011010111111110111101010011100010111111111010
                110001001101101100000010010100011111010000001
                101110111111011001101011010011111111110011110
                000110011101101010010010010000101111110101010
                011111111111001001011111111100101001111111010
                101010001101101100011000111111001010100011100
                110010101001110011001010101111010001101011110
                111110001101100010001000111111111100100011011
                111111111101010010011111101100010111111110011
                111000010011101111000011111100001111000001011
                011111100111001110011011110010110010001111010
                101011001010100111000101011101000100000101110
                000010111101110011011100101111110100001000101
                011101000110011011000001011001111011100100010
                011011111011111110110111000010111001000111111
                100111010010111001110001001100111111011111000
                001101100100000111001010010010110000101001001
                010001010011100100001011101001010010101001010
                000010101101101110100110101001001001010001101
                011110001100111101011010010110010010110111100
                100110111001000100111111101101111001111110100
                000000001101110010001000111101000001100011000
                111111100100010001101010100011001111101011000
                100000101111111000101000100111010011100010101
                101110100111001100011111101101101010111110001
                101110101101000111011100011001100010110101100
                101110101000010101011011100000100111111000000
                100000101111101110011110001101011000111100101
                111111100101111110000111011011010111111110000
                """),
        // segno's built-in choice is mask 5; over the complete symbol mask 4 scores lowest.
        Fixture(
            text: otpauthURI, level: .medium, version: 7, mask: 4, forced: false,
            rows: """
                111111101110001101011000001110111100101111111
                100000100110000000100000100110011001001000001
                101110100100010100001011100010001101001011101
                101110101110111101011110110010010001101011101
                101110101101100101001111111111100111101011101
                100000101101101111011000101001000100001000001
                111111101010101010101010101010101010101111111
                000000001011110111111000101001111000000000000
                100010111011010111011111101101101111011111001
                111101011001101100101111111000111000101100100
                011100111100000111110011011001111101111011010
                001010001101100011000110010110001001010000011
                110101100011000001101110100110101111011100000
                010101000011111000011110001010110100101000110
                110111100101110101000100010000100001001011010
                110000001100001000110001000100111000000001000
                011101110110110101111000010101001100000100001
                110010001101000011110101101111111100101110001
                000111100111011101000010001010010011111110010
                010011000000110010010111011010001111100000000
                001011111100010000111111110100101000111110010
                101110001101101110011000100010101101100011100
                001110101100000101001010100110101101101011010
                000010001011010000001000101100001001100010010
                110111111011010110111111110100001110111111000
                010100010100101111100111101001111101000101010
                101010110000111010100011101001111001100101010
                100111010101001001000010001110111110111000001
                000011111111001001111100001001101110001110000
                111010000001110010110001011000100100011101110
                001001110100000010110001011110100101110011110
                101111010001000111011010101100011010101110001
                000010111100010100001100001100101000001110001
                011110010101100010010101001001100101101101101
                000010101011010011001111111001111101110010110
                011110001111100111110010000110101010011100000
                100110100010101000011111101101101100111110011
                000000001000110000101000111011110100100010110
                111111101001111001101010110101000001101011010
                100000100010100000111000100101001011100010010
                101110101000100010011111101101101001111110011
                101110100001010111011000101101101101001111110
                101110100110001000101010001111100101010010010
                100000100111011010111011000001001010010011000
                111111101000101010111001100001001101010010001
                """),
    ]

    static func rows(_ code: QRCode) -> [String] {
        (0..<code.size).map { y in String((0..<code.size).map { x in code.isDark(x: x, y: y) ? "1" : "0" }) }
    }

    @Test(arguments: fixtures) func matchesTheReferenceMatrix(_ fixture: Fixture) throws {
        let (text, level) = (fixture.text, fixture.level)
        let code =
            fixture.forced
            ? try QRCode(text: text, errorCorrection: level, version: fixture.version, mask: fixture.mask)
            : try QRCode(text: text, errorCorrection: level)
        #expect(code.version == fixture.version)
        #expect(code.mask == fixture.mask)
        #expect(code.size == 17 + 4 * fixture.version)
        #expect(Self.rows(code) == fixture.rows.split(separator: "\n").map(String.init))
    }

    /// The largest byte-mode texts of version 40 (Table 7). One byte more does not fit.
    @Test(arguments: [
        (QRCode.ErrorCorrection.low, 2953), (.medium, 2331), (.quartile, 1663), (.high, 1273),
    ])
    func aTextLongerThanVersion40HoldsIsTooLong(level: QRCode.ErrorCorrection, capacity: Int) throws {
        let error = #expect(throws: QRCode.TooLong.self) {
            try QRCode(text: String(repeating: "a", count: capacity + 1), errorCorrection: level)
        }
        #expect(error?.byteCount == capacity + 1 && error?.capacity == capacity)
        #expect(try QRCode(text: String(repeating: "a", count: capacity), errorCorrection: level).version == 40)
    }

    @Test func aForcedVersionTooSmallForTheTextIsTooLong() {
        let error = #expect(throws: QRCode.TooLong.self) {
            try QRCode(text: String(repeating: "a", count: 18), errorCorrection: .low, version: 1, mask: nil)
        }
        #expect(error?.byteCount == 18 && error?.capacity == 17)
    }

    /// Capacity is in UTF-8 bytes. Version 1-H holds 7 bytes: three "é" (6 bytes) fit, four (8 bytes) do not.
    @Test func capacityCountsUTF8Bytes() throws {
        #expect(try QRCode(text: "ééé", errorCorrection: .high).version == 1)
        #expect(try QRCode(text: "éééé", errorCorrection: .high).version == 2)
    }

    @Test func theSVGTitleIsEscaped() throws {
        let svg = try QRCode(text: "x").svg(title: #"x'"></title><script>alert(1)</script>&"#)
        #expect(svg.contains("<title>x&#39;&quot;&gt;&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;</title>"))
        #expect(!svg.contains("<script>"))
        #expect(svg.split(separator: "<title>").count == 2 && svg.split(separator: "</title>").count == 2)
    }

    /// One unit square per dark module, at its place plus the quiet zone, and nothing else in the path.
    @Test func theSVGPathDrawsExactlyTheDarkModules() throws {
        let code = try QRCode(text: Self.otpauthURI)
        let svg = code.svg(title: "Scan me", moduleSize: 5, quietZone: 4)
        let side = code.size + 8
        #expect(
            svg.hasPrefix(
                #"<svg xmlns="http://www.w3.org/2000/svg" class="qr" role="img" viewBox="0 0 \#(side) \#(side)" "#
                    + #"width="\#(side * 5)" height="\#(side * 5)""#))
        #expect(svg.contains(##"<rect fill="#fff" width="\##(side)" height="\##(side)"/>"##))
        #expect(svg.hasSuffix("\"/></svg>"))
        let paths = svg.split(separator: "<path ")
        try #require(paths.count == 2)
        let d = try #require(paths[1].split(separator: "\"").dropFirst(3).first)  // fill="#000" d="…"
        let squares = d.split(separator: "M")
        #expect(squares.allSatisfy { $0.hasSuffix("h1v1h-1z") })
        let drawn = Set(
            squares.map { square in
                let xy = square.dropLast("h1v1h-1z".count).split(separator: " ").compactMap { Int($0) }
                return [xy[0] - 4, xy[1] - 4]
            })
        var dark: Set<[Int]> = []
        for y in 0..<code.size {
            for x in 0..<code.size where code.isDark(x: x, y: y) { dark.insert([x, y]) }
        }
        #expect(squares.count == dark.count)
        #expect(drawn == dark)
    }

    @Test func theQuietZoneIsLight() throws {
        let code = try QRCode(text: "Tally")
        #expect(code.isDark(x: 0, y: 0))
        #expect(!code.isDark(x: -1, y: 0) && !code.isDark(x: 0, y: code.size) && !code.isDark(x: code.size, y: 3))
    }
}
