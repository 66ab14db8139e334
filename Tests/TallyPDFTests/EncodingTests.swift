import Testing

@testable import TallyPDF

/// The hash and compressor written for this package, against published vectors and a decoder written here.
@Suite struct EncodingTests {
    @Test func md5MatchesRFC1321() {
        let vectors = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
            (String(repeating: "1234567890", count: 8), "57edf4a22be3c955ac49da2e2107b67a"),
        ]
        for (input, expected) in vectors {
            let hex = MD5.digest(Array(input.utf8)).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
            #expect(hex == expected, "\(input)")
        }
    }

    @Test func adler32MatchesZlib() {
        #expect(Deflate.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
        #expect(Deflate.adler32([]) == 1)
    }

    /// Deflate output decoded by a minimal fixed-Huffman inflater gives the input back, for text, runs, binary
    /// data and matches longer than 258 bytes or further than the window.
    @Test func deflateRoundTrips() throws {
        var noise: [UInt8] = []
        var state: UInt32 = 1
        for _ in 0..<70_000 {
            state = state &* 1_103_515_245 &+ 12345
            noise.append(UInt8(truncatingIfNeeded: state >> 16))
        }
        let inputs: [[UInt8]] = [
            [], [7], Array("abcabcabcabcabc".utf8), [UInt8](repeating: 0, count: 100_000),
            Array(String(repeating: "0 0 m 100 100 l S\n", count: 3_000).utf8), noise, noise + noise.prefix(40_000),
        ]
        for input in inputs {
            let zlib = Deflate.zlib(input)
            #expect(zlib.prefix(2) == [0x78, 0x01])
            let inflated = try inflateFixed(Array(zlib.dropFirst(2).dropLast(4)))
            #expect(inflated == input, "\(input.count) bytes")
        }
        #expect(Deflate.zlib([UInt8](repeating: 0, count: 100_000)).count < 1_000)
    }
}

/// Decodes one final fixed-Huffman deflate block: all `Deflate` writes.
private func inflateFixed(_ data: [UInt8]) throws -> [UInt8] {
    var position = 0
    func bit() throws -> Int {
        guard position / 8 < data.count else { throw FixtureError("deflate data ended early") }
        defer { position += 1 }
        return Int(data[position / 8] >> UInt8(position % 8)) & 1
    }
    func bits(_ count: Int) throws -> Int { try (0..<count).reduce(0) { value, k in try value | bit() << k } }
    func code(_ length: Int) throws -> Int { try (0..<length).reduce(0) { value, _ in try value << 1 | bit() } }
    guard try bits(1) == 1, try bits(2) == 1 else { throw FixtureError("not one final fixed block") }
    let lengthBases = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227,
        258,
    ]
    let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    let distanceBases = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
        6145, 8193, 12289, 16385, 24577,
    ]
    var out: [UInt8] = []
    while true {
        // Fixed code lengths: 7 bits for 256–279, 8 for 0–143 and 280–287, 9 for 144–255.
        var symbol = try code(7)
        if symbol <= 0x17 {
            symbol += 256
        } else {
            symbol = symbol << 1 | (try bit())
            if (0x30...0xBF).contains(symbol) {
                symbol -= 0x30
            } else if (0xC0...0xC7).contains(symbol) {
                symbol = symbol - 0xC0 + 280
            } else {
                symbol = (symbol << 1 | (try bit())) - 0x190 + 144
            }
        }
        if symbol < 256 {
            out.append(UInt8(symbol))
        } else if symbol == 256 {
            return out
        } else {
            let length = lengthBases[symbol - 257] + (try bits(lengthExtra[symbol - 257]))
            let distanceCode = try code(5)
            let distance = distanceBases[distanceCode] + (try bits(max(0, distanceCode / 2 - 1)))
            guard distance <= out.count else { throw FixtureError("distance past the start") }
            for _ in 0..<length { out.append(out[out.count - distance]) }
        }
    }
}
