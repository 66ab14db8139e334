import CompressNIO
import NIOCore

/// A gzip body (RFC 1952), every member of it, each checked against its trailer: CompressNIO inflates one member and
/// stops without a word at the end of its deflate data, so a second member, a cut trailer or bytes after the stream
/// would otherwise pass as a shorter body (data lost with a 200).
enum Gzip {
    struct Malformed: Error {}

    /// The inflated bytes, at most `maxSize` in all (`CompressNIOError.bufferOverflow` past it).
    static func inflate(_ body: ByteBuffer, maxSize: Int) throws -> [UInt8] {
        var input = body
        var output: [UInt8] = []
        guard input.readableBytes > 0 else { throw Malformed() }
        while input.readableBytes > 0 {
            let start = input.readerIndex
            // A member is at least a 10-byte header and an 8-byte trailer.
            guard input.readableBytes >= 18, input.getInteger(at: start, as: UInt16.self) == 0x1F8B else {
                throw Malformed()
            }
            let member = try input.decompress(with: .gzip(), maxSize: maxSize - output.count + 1)
            guard output.count + member.readableBytes <= maxSize else { throw CompressNIOError.bufferOverflow }
            let end = input.readerIndex
            // Read from `body`, whose readable bytes still hold what `input` has consumed.
            guard end - start >= 18,
                let crc = body.getInteger(at: end - 8, endianness: .little, as: UInt32.self),
                let size = body.getInteger(at: end - 4, endianness: .little, as: UInt32.self)
            else { throw Malformed() }
            let bytes = Array(member.readableBytesView)
            guard crc == CRC32.checksum(bytes), size == UInt32(truncatingIfNeeded: bytes.count) else {
                throw Malformed()
            }
            output += bytes
        }
        return output
    }
}

/// CRC-32 (IEEE 802.3, reflected, as gzip's trailer has it).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
