/// One-time codes that stand in for the authenticator when the phone is lost. Shown once, stored only hashed.
package enum RecoveryCodes {
    package static let count = 10
    /// Crockford's base32 alphabet: no i, l, o or u, so nothing read off paper is ambiguous, and `normalize` maps the
    /// look-alikes (o → 0, i and l → 1) back. 32 symbols: each character carries 5 bits, a code 50.
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)
    static let length = 10

    /// Ten fresh codes shaped `xxxx-xxxx-xx`.
    package static func generate() -> [String] {
        var rng = SystemRandomNumberGenerator()
        return (0..<count).map { _ in
            let chars = (0..<length).map { _ in alphabet[Int(rng.next(upperBound: UInt8(alphabet.count)))] }
            let text = String(decoding: chars, as: UTF8.self)
            return String(text.prefix(4)) + "-" + String(text.dropFirst(4).prefix(4)) + "-" + String(text.suffix(2))
        }
    }

    /// The code as stored: lowercase, without dashes or spaces, look-alikes mapped. Nil if it cannot be a code.
    package static func normalize(_ code: String) -> String? {
        var out = [UInt8]()
        for c in code.lowercased().utf8 {
            switch c {
            case UInt8(ascii: "-"), UInt8(ascii: " "): continue
            case UInt8(ascii: "o"): out.append(UInt8(ascii: "0"))
            case UInt8(ascii: "i"), UInt8(ascii: "l"): out.append(UInt8(ascii: "1"))
            case _ where alphabet.contains(c): out.append(c)
            default: return nil
            }
            if out.count > length { return nil }
        }
        return out.count == length ? String(decoding: out, as: UTF8.self) : nil
    }

    /// SHA-256 hex of the normalized code, the form the store keeps. Text that cannot be a code is hashed as typed:
    /// no stored code has that hash, so it simply matches nothing.
    package static func hash(_ code: String) -> String {
        TokenSecret.hash(normalize(code) ?? code)
    }
}
