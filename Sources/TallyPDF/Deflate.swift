/// A small zlib (RFC 1950) / deflate (RFC 1951) compressor for content, font and CMap streams: LZ77 matching
/// over hash chains and the fixed Huffman code, in one block. It compresses less than zlib, and needs no library;
/// its output depends only on its input, so documents stay byte-for-byte reproducible.
enum Deflate {
    static func zlib(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]  // deflate, 32 KiB window; (0x78 × 256 + 0x01) is a multiple of 31
        out += raw(data)
        let checksum = adler32(data)
        out += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: checksum >> UInt32($0)) }
        return out
    }

    static func adler32(_ data: [UInt8]) -> UInt32 {
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        return b << 16 | a
    }

    private static let window = 32768
    private static let maxChain = 64
    private static let hashBits = 15

    static func raw(_ data: [UInt8]) -> [UInt8] {
        var bits = BitWriter()
        bits.write(1, count: 1)  // BFINAL
        bits.write(1, count: 2)  // BTYPE 01: fixed Huffman codes
        var head = [Int](repeating: -1, count: 1 << hashBits)
        var previous = [Int](repeating: -1, count: window)
        func hash(_ i: Int) -> Int {
            (Int(data[i]) << 10 ^ Int(data[i + 1]) << 5 ^ Int(data[i + 2])) & ((1 << hashBits) - 1)
        }
        func insert(_ i: Int) {
            guard i + 2 < data.count else { return }
            let h = hash(i)
            previous[i % window] = head[h]
            head[h] = i
        }
        var i = 0
        while i < data.count {
            var bestLength = 0
            var bestDistance = 0
            if i + 2 < data.count {
                var candidate = head[hash(i)]
                var steps = 0
                while candidate >= 0, i - candidate <= window - 1, steps < maxChain {
                    var length = 0
                    while length < 258, i + length < data.count, data[candidate + length] == data[i + length] {
                        length += 1
                    }
                    if length > bestLength {
                        bestLength = length
                        bestDistance = i - candidate
                        if length == 258 { break }
                    }
                    candidate = previous[candidate % window]
                    steps += 1
                }
            }
            if bestLength >= 3 {
                writeLength(bestLength, to: &bits)
                writeDistance(bestDistance, to: &bits)
                for k in 0..<bestLength { insert(i + k) }
                i += bestLength
            } else {
                writeLiteral(Int(data[i]), to: &bits)
                insert(i)
                i += 1
            }
        }
        writeLiteral(256, to: &bits)  // end of block
        return bits.finish()
    }

    /// The fixed literal/length code of RFC 1951, 3.2.6.
    private static func writeLiteral(_ symbol: Int, to bits: inout BitWriter) {
        switch symbol {
        case 0...143: bits.writeCode(0x30 + symbol, length: 8)
        case 144...255: bits.writeCode(0x190 + symbol - 144, length: 9)
        case 256...279: bits.writeCode(symbol - 256, length: 7)
        default: bits.writeCode(0xC0 + symbol - 280, length: 8)
        }
    }

    private static let lengthBases = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227,
        258,
    ]
    private static let lengthExtra = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ]
    private static let distanceBases = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
        6145, 8193, 12289, 16385, 24577,
    ]
    private static let distanceExtra = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
    ]

    private static func writeLength(_ length: Int, to bits: inout BitWriter) {
        let code = lengthBases.lastIndex { $0 <= length }!
        writeLiteral(257 + code, to: &bits)
        bits.write(UInt32(length - lengthBases[code]), count: lengthExtra[code])
    }

    private static func writeDistance(_ distance: Int, to bits: inout BitWriter) {
        let code = distanceBases.lastIndex { $0 <= distance }!
        bits.writeCode(code, length: 5)
        bits.write(UInt32(distance - distanceBases[code]), count: distanceExtra[code])
    }
}

/// Packs bits least-significant first, as deflate stores them.
private struct BitWriter {
    private var bytes: [UInt8] = []
    private var buffer: UInt32 = 0
    private var used = 0

    mutating func write(_ value: UInt32, count: Int) {
        for k in 0..<count {
            buffer |= ((value >> UInt32(k)) & 1) << UInt32(used)
            used += 1
            if used == 8 {
                bytes.append(UInt8(buffer))
                buffer = 0
                used = 0
            }
        }
    }

    /// Huffman codes are defined most-significant bit first, so they go in reversed.
    mutating func writeCode(_ code: Int, length: Int) {
        var reversed: UInt32 = 0
        for k in 0..<length { reversed |= UInt32((code >> k) & 1) << UInt32(length - 1 - k) }
        write(reversed, count: length)
    }

    mutating func finish() -> [UInt8] {
        if used > 0 { bytes.append(UInt8(buffer)) }
        return bytes
    }
}
