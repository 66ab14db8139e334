/// A QR code (ISO/IEC 18004:2015) that Tally draws itself, for the `otpauth://` URI on the two-factor enrolment
/// page. A QR code image service or a browser script would need to see the TOTP secret; this keeps it on the server.
/// Only byte mode (UTF-8) is used. Every authenticator app reads it, and an otpauth URI gains little from the
/// numeric or alphanumeric modes. Versions 1…40, all four error-correction levels, and the mask with the lowest
/// penalty score.
package struct QRCode: Sendable {
    package enum ErrorCorrection: Sendable, CaseIterable {
        /// Recover about 7, 15, 25 and 30 % of the codewords.
        case low, medium, quartile, high
    }

    /// The text takes more bytes than the largest version (or the version asked for) holds at this level.
    package struct TooLong: Error, Sendable, Equatable {
        package let byteCount: Int
        package let capacity: Int
    }

    /// Modules per side, quiet zone excluded: 21 for version 1, and 4 more for each version after it.
    package let size: Int
    package let version: Int
    package let mask: Int
    package let errorCorrection: ErrorCorrection
    /// Row by row; `true` is dark.
    private let modules: [Bool]

    /// The smallest version that holds `text`.
    package init(text: String, errorCorrection: ErrorCorrection = .medium) throws(TooLong) {
        let bytes = Array(text.utf8)
        guard let version = (1...40).first(where: { Self.byteCapacity(version: $0, errorCorrection) >= bytes.count })
        else { throw TooLong(byteCount: bytes.count, capacity: Self.byteCapacity(version: 40, errorCorrection)) }
        self.init(bytes: bytes, errorCorrection: errorCorrection, version: version, mask: nil)
    }

    /// A chosen version, and a chosen mask (nil: the best one). Lets tests compare with a reference encoder module by
    /// module.
    package init(text: String, errorCorrection: ErrorCorrection = .medium, version: Int, mask: Int?) throws(TooLong) {
        precondition((1...40).contains(version), "QR code versions are 1…40")
        precondition(mask.map { (0..<8).contains($0) } ?? true, "QR code masks are 0…7")
        let bytes = Array(text.utf8)
        let capacity = Self.byteCapacity(version: version, errorCorrection)
        guard bytes.count <= capacity else { throw TooLong(byteCount: bytes.count, capacity: capacity) }
        self.init(bytes: bytes, errorCorrection: errorCorrection, version: version, mask: mask)
    }

    private init(bytes: [UInt8], errorCorrection: ErrorCorrection, version: Int, mask: Int?) {
        var unmasked = ModuleMatrix(version: version)
        unmasked.place(Self.codewords(bytes, version: version, errorCorrection))
        func masked(_ mask: Int) -> ModuleMatrix {
            var matrix = unmasked
            matrix.apply(mask: mask)
            matrix.drawFormat(errorCorrection, mask: mask)
            return matrix
        }
        // 7.8.3.1: the mask is applied to the encoding region only, but "the area to be evaluated is the complete
        // symbol", format information included. The first of equal scores wins.
        let penalties = mask == nil ? (0..<8).map { masked($0).penalty() } : []
        let mask = mask ?? penalties.firstIndex(of: penalties.min()!)!
        self.size = unmasked.size
        self.version = version
        self.mask = mask
        self.errorCorrection = errorCorrection
        self.modules = masked(mask).dark
    }

    /// Outside the symbol, in the quiet zone, every module is light.
    package func isDark(x: Int, y: Int) -> Bool {
        (0..<size).contains(x) && (0..<size).contains(y) && modules[y * size + x]
    }

    /// The code as a standalone `<svg>` element. One unit of the viewBox is one module. Each dark module is a unit
    /// square in one path, with crisp edges so that scaled squares do not blur into each other. `title` is the
    /// accessible name. It is escaped here because callers insert the SVG into the page as raw markup.
    package func svg(title: String, moduleSize: Int = 4, quietZone: Int = 4) -> String {
        precondition(moduleSize > 0 && quietZone >= 0)
        let side = size + 2 * quietZone, pixels = side * moduleSize
        var path = ""
        for y in 0..<size {
            for x in 0..<size where isDark(x: x, y: y) {
                path += "M\(x + quietZone) \(y + quietZone)h1v1h-1z"
            }
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" class="qr" role="img" viewBox="0 0 \(side) \(side)" \
            width="\(pixels)" height="\(pixels)" shape-rendering="crispEdges"><title>\(Self.escaped(title))</title>\
            <rect fill="#fff" width="\(side)" height="\(side)"/><path fill="#000" d="\(path)"/></svg>
            """
    }

    /// All five characters, so the text is safe in elements and in quoted attributes. Kept here, not shared with
    /// the pages' `escape`, so this file depends only on the standard library.
    private static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

// MARK: Data and error-correction codewords (7.4 to 7.6)

extension QRCode {
    /// Modules left for codewords once the function patterns and the format and version information are drawn.
    /// Some versions leave 3, 4 or 7 more modules than whole codewords fill. Those remainder bits stay light.
    private static func rawDataModules(version v: Int) -> Int {
        var modules = (16 * v + 128) * v + 64
        if v >= 2 {
            let alignments = v / 7 + 2
            modules -= (25 * alignments - 10) * alignments - 55
            if v >= 7 { modules -= 36 }
        }
        return modules
    }

    private static func dataCodewords(version: Int, _ level: ErrorCorrection) -> Int {
        rawDataModules(version: version) / 8 - level.eccPerBlock[version - 1] * level.blocks[version - 1]
    }

    /// The count field is 8 bits up to version 9, then 16 bits.
    private static func byteCapacity(version: Int, _ level: ErrorCorrection) -> Int {
        (dataCodewords(version: version, level) * 8 - 4 - (version <= 9 ? 8 : 16)) / 8
    }

    /// One byte-mode segment and its padding, split into blocks. Each block gets its Reed–Solomon codewords, then the
    /// blocks are interleaved.
    private static func codewords(_ bytes: [UInt8], version: Int, _ level: ErrorCorrection) -> [UInt8] {
        var bits: [Bool] = []
        func append(_ value: Int, count: Int) {
            for i in stride(from: count - 1, through: 0, by: -1) { bits.append((value >> i) & 1 == 1) }
        }
        let capacity = dataCodewords(version: version, level)
        append(0b0100, count: 4)
        append(bytes.count, count: version <= 9 ? 8 : 16)
        for byte in bytes { append(Int(byte), count: 8) }
        append(0, count: min(4, capacity * 8 - bits.count))  // the terminator, shortened when the symbol is full
        append(0, count: (8 - bits.count % 8) % 8)
        var data = stride(from: 0, to: bits.count, by: 8).map { start in
            bits[start..<start + 8].reduce(UInt8(0)) { $0 << 1 | ($1 ? 1 : 0) }
        }
        for pad in 0..<(capacity - data.count) { data.append(pad % 2 == 0 ? 0xEC : 0x11) }

        // Block sizes differ by at most one codeword, with the shorter blocks first (Table 9).
        let blockCount = level.blocks[version - 1], eccLength = level.eccPerBlock[version - 1]
        let total = rawDataModules(version: version) / 8
        let shortBlocks = blockCount - total % blockCount, shortDataLength = total / blockCount - eccLength
        let divisor = ReedSolomon.divisor(degree: eccLength)
        var blocks: [ArraySlice<UInt8>] = [], eccBlocks: [[UInt8]] = []
        var start = 0
        for index in 0..<blockCount {
            let block = data[start..<start + shortDataLength + (index < shortBlocks ? 0 : 1)]
            blocks.append(block)
            eccBlocks.append(ReedSolomon.remainder(block, divisor: divisor))
            start = block.endIndex
        }
        var result: [UInt8] = []
        for i in 0...shortDataLength {
            for block in blocks where i < block.count { result.append(block[block.startIndex + i]) }
        }
        for i in 0..<eccLength {
            for block in eccBlocks { result.append(block[i]) }
        }
        return result
    }
}

extension QRCode.ErrorCorrection {
    /// The two bits of the format information (Table 12). The order is not L, M, Q, H.
    fileprivate var formatBits: Int {
        switch self {
        case .low: 0b01
        case .medium: 0b00
        case .quartile: 0b11
        case .high: 0b10
        }
    }

    /// Error-correction codewords in each block, by version (Table 9).
    fileprivate var eccPerBlock: [Int] {
        switch self {
        case .low:
            [
                7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28,
                28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,
            ]
        case .medium:
            [
                10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26,
                26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
            ]
        case .quartile:
            [
                13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30,
                28, 30, 30, 30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,
            ]
        case .high:
            [
                17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28,
                30, 24, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,
            ]
        }
    }

    /// Blocks, by version (Table 9).
    fileprivate var blocks: [Int] {
        switch self {
        case .low:
            [
                1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8,
                8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25,
            ]
        case .medium:
            [
                1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16,
                17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49,
            ]
        case .quartile:
            [
                1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20,
                23, 23, 25, 27, 29, 34, 34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68,
            ]
        case .high:
            [
                1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25,
                25, 34, 30, 32, 35, 37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81,
            ]
        }
    }
}

/// Reed–Solomon over GF(2^8) with the field polynomial x^8 + x^4 + x^3 + x^2 + 1 and generator roots α^0…α^(n-1).
/// This is the code of 7.5.2.
private enum ReedSolomon {
    static func multiply(_ x: UInt8, _ y: UInt8) -> UInt8 {
        var product = 0
        for i in stride(from: 7, through: 0, by: -1) {
            product = (product << 1) ^ ((product >> 7) * 0x11D)
            product ^= Int((y >> i) & 1) * Int(x)
        }
        return UInt8(product)
    }

    /// The generator polynomial's coefficients after the leading 1, highest power first.
    static func divisor(degree: Int) -> [UInt8] {
        var coefficients = [UInt8](repeating: 0, count: degree)
        coefficients[degree - 1] = 1
        var root: UInt8 = 1
        for _ in 0..<degree {
            for j in 0..<degree {
                coefficients[j] = multiply(coefficients[j], root)
                if j + 1 < degree { coefficients[j] ^= coefficients[j + 1] }
            }
            root = multiply(root, 2)
        }
        return coefficients
    }

    static func remainder(_ data: ArraySlice<UInt8>, divisor: [UInt8]) -> [UInt8] {
        var remainder = [UInt8](repeating: 0, count: divisor.count)
        for byte in data {
            let factor = byte ^ remainder.removeFirst()
            remainder.append(0)
            for i in divisor.indices { remainder[i] ^= multiply(divisor[i], factor) }
        }
        return remainder
    }
}

// MARK: The module matrix (6.3, 7.7 to 7.10)

/// `x` is the column and `y` the row, both counted from the top left.
private struct ModuleMatrix {
    let size: Int
    var dark: [Bool]
    /// Function patterns, plus the format and version areas. Data and masks skip them.
    var reserved: [Bool]

    init(version: Int) {
        size = 17 + 4 * version
        dark = Array(repeating: false, count: size * size)
        reserved = dark
        // Timing patterns first: the finders and their separators overwrite both ends.
        for i in 0..<size {
            set(6, i, dark: i % 2 == 0)
            set(i, 6, dark: i % 2 == 0)
        }
        for (x, y) in [(3, 3), (size - 4, 3), (3, size - 4)] { drawFinder(x, y) }
        let centres = Self.alignmentCentres(version: version, size: size)
        for x in centres {
            for y in centres where !Self.overlapsFinder(x, y, last: centres.last!) { drawAlignment(x, y) }
        }
        drawFormat(bits: 0)  // reserves the area; the real bits depend on the mask
        if version >= 7 { drawVersion(version) }
    }

    mutating func set(_ x: Int, _ y: Int, dark isDark: Bool) {
        dark[y * size + x] = isDark
        reserved[y * size + x] = true
    }

    /// The 7×7 finder and its light separator: a 9×9 square, cut off at the symbol's edges.
    private mutating func drawFinder(_ centreX: Int, _ centreY: Int) {
        for dy in -4...4 {
            for dx in -4...4 {
                let (x, y) = (centreX + dx, centreY + dy)
                guard (0..<size).contains(x), (0..<size).contains(y) else { continue }
                let ring = max(abs(dx), abs(dy))
                set(x, y, dark: ring != 2 && ring != 4)
            }
        }
    }

    private mutating func drawAlignment(_ centreX: Int, _ centreY: Int) {
        for dy in -2...2 {
            for dx in -2...2 { set(centreX + dx, centreY + dy, dark: max(abs(dx), abs(dy)) != 1) }
        }
    }

    private static func overlapsFinder(_ x: Int, _ y: Int, last: Int) -> Bool {
        (x == 6 && y == 6) || (x == 6 && y == last) || (x == last && y == 6)
    }

    /// Annex E. The first centre is 6, the last is 7 from the far edge, and the steps between are even and equal.
    static func alignmentCentres(version: Int, size: Int) -> [Int] {
        guard version > 1 else { return [] }
        let count = version / 7 + 2
        let step = (version * 8 + count * 3 + 5) / (count * 4 - 4) * 2
        return [6] + (0..<count - 1).map { size - 7 - $0 * step }.reversed()
    }

    /// Both copies of the 15 format bits (7.9), and the dark module beside the bottom-left finder.
    mutating func drawFormat(_ level: QRCode.ErrorCorrection, mask: Int) {
        let data = level.formatBits << 3 | mask
        var remainder = data
        for _ in 0..<10 { remainder = (remainder << 1) ^ ((remainder >> 9) * 0x537) }
        drawFormat(bits: (data << 10 | remainder) ^ 0x5412)
    }

    private mutating func drawFormat(bits: Int) {
        func bit(_ i: Int) -> Bool { (bits >> i) & 1 == 1 }
        for i in 0...5 { set(8, i, dark: bit(i)) }
        set(8, 7, dark: bit(6))
        set(8, 8, dark: bit(7))
        set(7, 8, dark: bit(8))
        for i in 9..<15 { set(14 - i, 8, dark: bit(i)) }
        for i in 0..<8 { set(size - 1 - i, 8, dark: bit(i)) }
        for i in 8..<15 { set(8, size - 15 + i, dark: bit(i)) }
        set(8, size - 8, dark: true)
    }

    /// The 18 version bits (7.10), in 3×6 blocks beside the top-right and bottom-left finders.
    private mutating func drawVersion(_ version: Int) {
        var remainder = version
        for _ in 0..<12 { remainder = (remainder << 1) ^ ((remainder >> 11) * 0x1F25) }
        let bits = version << 12 | remainder
        for i in 0..<18 {
            let (a, b, isDark) = (size - 11 + i % 3, i / 3, (bits >> i) & 1 == 1)
            set(a, b, dark: isDark)
            set(b, a, dark: isDark)
        }
    }

    /// 7.7.3: two-module columns from the right, alternately upwards and downwards, skipping the vertical timing
    /// pattern's column and every reserved module.
    mutating func place(_ codewords: [UInt8]) {
        var bit = 0
        for right in stride(from: size - 1, to: 0, by: -2).map({ $0 <= 6 ? $0 - 1 : $0 }) {
            let upwards = (right + 1) & 2 == 0
            for step in 0..<size {
                let y = upwards ? size - 1 - step : step
                for x in [right, right - 1] where !reserved[y * size + x] && bit < codewords.count * 8 {
                    dark[y * size + x] = (codewords[bit / 8] >> (7 - bit % 8)) & 1 == 1
                    bit += 1
                }
            }
        }
    }

    /// Table 10, with i the row and j the column.
    mutating func apply(mask: Int) {
        for i in 0..<size {
            for j in 0..<size where !reserved[i * size + j] {
                let flip =
                    switch mask {
                    case 0: (i + j) % 2 == 0
                    case 1: i % 2 == 0
                    case 2: j % 3 == 0
                    case 3: (i + j) % 3 == 0
                    case 4: (i / 2 + j / 3) % 2 == 0
                    case 5: (i * j) % 2 + (i * j) % 3 == 0
                    case 6: ((i * j) % 2 + (i * j) % 3) % 2 == 0
                    default: ((i + j) % 2 + (i * j) % 3) % 2 == 0
                    }
                if flip { dark[i * size + j].toggle() }
            }
        }
    }

    /// 7.8.3.1, Table 11. N1 = 3 for each run of five or more same-coloured modules in a row or column, plus 1 for each
    /// module beyond five. N2 = 3 for each 2×2 block of one colour. N3 = 40 for each 1:1:3:1:1 finder-like pattern
    /// with 4 light modules on either side. N4 = 10 for each full 5 % step that the dark share is away from 50 %.
    func penalty() -> Int {
        var score = 0
        for i in 0..<size {
            let row = dark[i * size..<(i + 1) * size], column = (0..<size).map { dark[$0 * size + i] }
            score += Self.runPenalty(row) + Self.runPenalty(column)
            score += Self.finderPenalty(Array(row)) + Self.finderPenalty(column)
        }
        for y in 1..<size {
            for x in 1..<size {
                let colour = dark[y * size + x]
                if dark[y * size + x - 1] == colour && dark[(y - 1) * size + x] == colour
                    && dark[(y - 1) * size + x - 1] == colour
                {
                    score += 3
                }
            }
        }
        let darkCount = dark.count(where: \.self)
        return score + 10 * (abs(20 * darkCount - 10 * dark.count) / dark.count)
    }

    private static func runPenalty(_ line: some Collection<Bool>) -> Int {
        var score = 0, run = 0, previous: Bool?
        for module in line {
            if module == previous {
                run += 1
            } else {
                if run >= 5 { score += run - 2 }
                (run, previous) = (1, module)
            }
        }
        return run >= 5 ? score + run - 2 : score
    }

    /// The quiet zone counts as light. A pattern that scored is skipped whole, so a neighbour that shares its edge
    /// modules does not score as well. segno counts the same way.
    private static func finderPenalty(_ line: [Bool]) -> Int {
        let pattern = [true, false, true, true, true, false, true]
        var score = 0, i = 0
        while i + 7 <= line.count {
            guard line[i..<i + 7].elementsEqual(pattern) else {
                i += 1
                continue
            }
            let lightBefore = !line[max(i - 4, 0)..<i].contains(true)
            let lightAfter = !line[(i + 7)..<min(i + 11, line.count)].contains(true)
            if lightBefore || lightAfter {
                score += 40
                i += 7
            } else {
                i += 4  // the nearest place the pattern can start again
            }
        }
        return score
    }
}
