import Crypto
import Foundation

/// RFC 7636 proof key for code exchange, and the other random values a sign-in flow carries. The verifier stays on
/// the server; only its S256 challenge goes through the browser, so a stolen code cannot be redeemed.
package enum PKCE {
    /// 32 random bytes in base64url: 43 characters, 256 bits.
    package static func verifier() -> String { randomToken() }

    package static func challenge(verifier: String) -> String {
        Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8))))
    }

    /// 43 to 128 characters from the unreserved set (RFC 7636 §4.1).
    package static func isValidVerifier(_ verifier: String) -> Bool {
        (43...128).contains(verifier.utf8.count)
            && verifier.utf8.allSatisfy { c in
                switch c {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                    UInt8(ascii: "~"):
                    true
                default: false
                }
            }
    }

    /// 256 random bits in base64url (43 characters): a `state`, which ties the callback to the flow that started
    /// it, or an OIDC `nonce`, which ties the ID token to this flow so a token minted for another sign-in is refused.
    package static func randomToken() -> String { Base64URL.encode(randomBytes(32)) }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
    }
}

/// base64url without padding (RFC 4648 §5), as PKCE and JWTs use it.
package enum Base64URL {
    package static func encode(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.last == "=" { text.removeLast() }
        return String(text.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }

    /// Nil for characters outside the URL alphabet (including `+`, `/` and padding).
    package static func decode(_ text: String) -> [UInt8]? {
        guard text.utf8.allSatisfy(isURLSafe), text.utf8.count % 4 != 1 else { return nil }
        var standard = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while standard.utf8.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard).map(Array.init)
    }

    private static func isURLSafe(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }
}
