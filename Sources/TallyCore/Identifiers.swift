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
