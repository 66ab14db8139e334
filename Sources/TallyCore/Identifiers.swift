/// Random, URL-safe identifiers with a type prefix (`prj_…`, `tok_…`), unique across replicas.
public enum Identifier {
    static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    public static func make(_ prefix: String, length: Int = 20) -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(length)
        for _ in 0..<length { bytes.append(alphabet[Int(generator.next(upperBound: UInt8(alphabet.count)))]) }
        return prefix + "_" + String(decoding: bytes, as: UTF8.self)
    }
}

extension Identifier {
    /// Like `make`, but starting with the time in base 36 (11 characters of microseconds), so ids generated in a row
    /// sort together: the events' unique index then grows at its end instead of at random pages.
    public static func timeOrdered(_ prefix: String, at instant: Instant = .now, randomLength: Int = 13) -> String {
        var time = [UInt8](repeating: alphabet[0], count: 11)
        var t = UInt64(max(0, instant.microseconds))
        for i in stride(from: 10, through: 0, by: -1) {
            time[i] = alphabet[Int(t % 36)]
            t /= 36
        }
        let random = make("", length: randomLength).dropFirst()
        return prefix + "_" + String(decoding: time, as: UTF8.self) + random
    }
}
