/// Finds credentials by their published shapes: OpenAI (`sk-…`, `sk-proj-…`), Anthropic (`sk-ant-…`), Google API keys
/// (`AIza…`), AWS access key ids (`AKIA…`/`ASIA…`), GitHub tokens (`ghp_…` and kin, `github_pat_…`), Tally's own
/// keys (`tly_…`), PEM private key blocks and JWTs. A key must start a token (no letter, digit, `_` or `-` before
/// it), which also keeps the scan linear on texts like "sk-sk-sk-…".
enum SecretScanner {
    static func matches(in text: TextBytes) -> [Range<Int>] {
        let bytes = text.bytes
        var found: [Range<Int>] = []
        var pem = PEMScanner(text: text)
        var offset = 0
        while offset + 1 < bytes.count {
            // Cheap test first: every shape's first two bytes ("sk", "AI", "AK", "AS", "gh", "gi", "tl", "ey", "--").
            guard isOpening(bytes[offset], bytes[offset + 1]) else {
                offset += 1
                continue
            }
            if let match = pem.block(at: offset) ?? token(in: text, at: offset) {
                found.append(match)
                offset = match.upperBound
            } else {
                offset += 1
            }
        }
        return found
    }

    private static func isOpening(_ first: UInt8, _ second: UInt8) -> Bool {
        switch (first, second) {
        case (0x73, 0x6B), (0x41, 0x49), (0x41, 0x4B), (0x41, 0x53), (0x67, 0x68), (0x67, 0x69), (0x74, 0x6C),
            (0x65, 0x79), (0x2D, 0x2D):
            true
        default:
            false
        }
    }

    private static func token(in text: TextBytes, at start: Int) -> Range<Int>? {
        switch text.bytes[start] {
        case 0x73, 0x41, 0x67, 0x74, 0x65:  // s, A, g, t, e: the first letters of every key shape
            break
        default:
            return nil
        }
        if start > 0, ASCII.isTokenByte(text.bytes[start - 1]) { return nil }
        let end = tokenEnd(text, from: start)
        if isKey(text.bytes[start..<end], text: text, start: start) { return start..<end }
        if let end = jwtEnd(text, from: start) { return start..<end }
        return nil
    }

    private static func tokenEnd(_ text: TextBytes, from start: Int) -> Int {
        var end = start
        while end < text.count, ASCII.isTokenByte(text.bytes[end]) { end += 1 }
        return end
    }

    private static func isKey(_ token: ArraySlice<UInt8>, text: TextBytes, start: Int) -> Bool {
        let length = token.count
        if text.hasPrefix("sk-", at: start) { return length - 3 >= 20 && looksRandom(token.dropFirst(3)) }
        if text.hasPrefix("AIza", at: start) { return length == 39 }
        if text.hasPrefix("AKIA", at: start) || text.hasPrefix("ASIA", at: start) {
            return length == 20 && token.allSatisfy { ASCII.isUpper($0) || ASCII.isDigit($0) }
        }
        if text.hasPrefix("github_pat_", at: start) { return length - 11 >= 22 && looksRandom(token.dropFirst(11)) }
        for prefix: StaticString in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] where text.hasPrefix(prefix, at: start) {
            return length - 4 >= 30 && looksRandom(token.dropFirst(4))
        }
        if text.hasPrefix("tly_", at: start) { return length - 4 >= 20 && looksRandom(token.dropFirst(4)) }
        return false
    }

    /// Whether key material looks generated rather than written: a digit somewhere and a run of at least 12 letters
    /// and digits, so "sk-learn" or "sk-my-long-hyphenated-library-name" are not keys.
    private static func looksRandom(_ material: ArraySlice<UInt8>) -> Bool {
        var longestRun = 0
        var run = 0
        for byte in material {
            run = ASCII.isAlphanumeric(byte) ? run + 1 : 0
            longestRun = max(longestRun, run)
        }
        return longestRun >= 12 && material.contains(where: ASCII.isDigit)
    }

    /// The end of a JWT starting at `start` (`eyJ…` `.` `eyJ…` `.` signature, base64url), or nil.
    private static func jwtEnd(_ text: TextBytes, from start: Int) -> Int? {
        guard text.hasPrefix("eyJ", at: start) else { return nil }
        // The shortest real header, {"alg":"none"}, is 19 characters of base64url; 10 keeps "eyJ.eyJ." out.
        let headerEnd = tokenEnd(text, from: start)
        guard headerEnd - start >= 10, text[safe: headerEnd] == 0x2E, text.hasPrefix("eyJ", at: headerEnd + 1) else {
            return nil
        }
        let payloadEnd = tokenEnd(text, from: headerEnd + 1)
        guard payloadEnd - headerEnd - 1 >= 10, text[safe: payloadEnd] == 0x2E else { return nil }
        // An unsigned token ("alg": "none") has an empty signature and still carries its claims.
        return tokenEnd(text, from: payloadEnd + 1)
    }
}
