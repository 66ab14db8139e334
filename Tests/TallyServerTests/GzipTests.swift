import CompressNIO
import NIOCore
import Testing

@testable import TallyServer

/// `POST /v1/traces` bodies in gzip: every member read, each held to its trailer (found by review: a second member
/// was dropped with a 200, a cut trailer passed).
@Suite struct GzipTests {
    func gzip(_ text: String) throws -> [UInt8] {
        var buffer = ByteBuffer(string: text)
        let compressed = try buffer.compress(with: .gzip())
        return Array(compressed.readableBytesView)
    }

    func inflate(_ bytes: [UInt8], maxSize: Int = 1 << 20) throws -> String {
        String(decoding: try Gzip.inflate(ByteBuffer(bytes: bytes), maxSize: maxSize), as: UTF8.self)
    }

    @Test func readsEveryMember() throws {
        let text = String(repeating: "tally ", count: 500)
        #expect(try inflate(try gzip(text)) == text)
        #expect(try inflate(try gzip("first,") + gzip("second")) == "first,second")
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func refusesWhatIsNotWholeGzip() throws {
        let whole = try gzip("some spans")
        for broken in [
            [], Array(whole.dropLast(4)), Array(whole.dropLast(8)), whole + Array("trailing".utf8),
            whole + [0x1F, 0x8B],
            [0x1F, 0x8B, 0x08, 0x00] + Array("garbage".utf8),
            Array(whole.dropLast(8)) + [UInt8](repeating: 0, count: 8),
        ] {
            #expect(throws: (any Error).self, "\(broken.suffix(12))") { try inflate(broken) }
        }
    }

    @Test func stopsAtTheLimitAcrossMembers() throws {
        let big = String(repeating: "a", count: 3000)
        #expect(throws: CompressNIOError.bufferOverflow) { try inflate(try gzip(big), maxSize: 2000) }
        #expect(throws: CompressNIOError.bufferOverflow) { try inflate(try gzip(big) + gzip(big), maxSize: 5000) }
        #expect(try inflate(try gzip(big) + gzip(big), maxSize: 6000).count == 6000)
    }
}
