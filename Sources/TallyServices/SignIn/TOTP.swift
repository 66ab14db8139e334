import Crypto
import TallyCore

/// RFC 6238 time-based one-time passwords as every authenticator app makes them by default: HMAC-SHA1, 6 digits,
/// 30-second steps. Pure: the caller passes the time, and records the step a code matched so it works only once.
package enum TOTP {
    package static let digits = 6
    package static let period: Int64 = 30
    /// 160 bits, the length RFC 4226 recommends and the one apps expect from a QR code.
    package static let secretLength = 20

    package static func newSecret() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<secretLength).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
    }

    /// The step a Unix time falls in; times before 1970 fall in step 0 and earlier, never a trap.
    package static func step(at unixSeconds: Int64) -> Int64 {
        let quotient = unixSeconds / period
        return unixSeconds % period < 0 ? quotient - 1 : quotient
    }

    /// The code for one step (RFC 4226 dynamic truncation), zero-padded to six digits.
    package static func code(secret: [UInt8], step: Int64) -> String {
        var counter = [UInt8](repeating: 0, count: 8)
        var value = UInt64(bitPattern: step)
        for i in stride(from: 7, through: 0, by: -1) {
            counter[i] = UInt8(value & 0xFF)
            value >>= 8
        }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: counter, using: SymmetricKey(data: secret)))
        let offset = Int(mac[mac.count - 1] & 0x0F)
        let binary =
            (UInt32(mac[offset] & 0x7F) << 24) | (UInt32(mac[offset + 1]) << 16) | (UInt32(mac[offset + 2]) << 8)
            | UInt32(mac[offset + 3])
        let text = String(binary % 1_000_000)
        return String(repeating: "0", count: digits - text.count) + text
    }

    /// The step whose code this is, looking `window` steps either side of now (phones' clocks drift, and a code typed
    /// at the end of its 30 seconds arrives in the next step); nil if none matches. Only six ASCII digits are
    /// accepted, once spaces are removed (apps show `123 456`). Every candidate is compared, in constant time, so the
    /// answer's timing says nothing about which step or digit was close.
    package static func matchingStep(code: String, secret: [UInt8], at unixSeconds: Int64, window: Int = 1)
        -> Int64?
    {
        let typed = Array(code.utf8.filter { $0 != UInt8(ascii: " ") })
        guard typed.count == digits, typed.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            !secret.isEmpty, window >= 0
        else { return nil }
        let now = step(at: unixSeconds)
        var matched: Int64?
        for offset in -Int64(window)...Int64(window) {
            let candidate = now + offset
            if constantTimeEqual(Array(self.code(secret: secret, step: candidate).utf8), typed), matched == nil {
                matched = candidate
            }
        }
        return matched
    }

    /// The `otpauth://` URI an authenticator app reads from the QR code (Google's Key URI format). The label is
    /// `issuer:account` with each part percent-encoded, so an `@`, a space or a colon in either cannot shift fields.
    package static func otpauthURI(secret: [UInt8], account: String, issuer: String) -> String {
        let label = TextEncoding.percentEncoded(issuer) + ":" + TextEncoding.percentEncoded(account)
        return "otpauth://totp/" + label + "?secret=" + Base32.encode(secret) + "&issuer="
            + TextEncoding.percentEncoded(issuer) + "&algorithm=SHA1&digits=\(digits)&period=\(period)"
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
