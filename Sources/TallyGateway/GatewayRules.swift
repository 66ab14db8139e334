import TallyCore
import TallyHTTP
import TallyProviders
import TallyServices

/// What the gateway lets through in each direction. The gateway answers on Tally's own origin, where browsers hold a
/// session: a request may carry that session's cookie and CSRF token, and an upstream (whose base_url an organization
/// admin chose) may answer with cookies, redirects or a page. So requests pass an allow-list of headers the providers
/// use, and answers lose the headers that act on the browser or the origin.
package enum GatewayHeaders {
    /// Every provider: the body's type and encoding, what the client accepts, who it is, and retry-safe keys.
    package static let common: Set<String> = [
        "content-type", "content-encoding", "accept", "user-agent", "idempotency-key",
    ]

    /// Request headers forwarded upstream: the common ones, and those the provider's API reads (`ProviderAPI`). The
    /// SDK's key header carries the Tally token unless the call is in pass-through mode (the Tally token in
    /// X-Tally-Token, the app's own provider key where the provider reads it).
    package static func forwards(_ name: String, provider: ProviderKind, passThrough: Bool) -> Bool {
        let n = name.lowercased()
        if common.contains(n) || n.hasPrefix("x-stainless-") { return true }
        return provider.api.forwardsHeader(n, passThrough: passThrough)
    }

    /// Upstream answer headers that never reach the client: hop-by-hop ones, and those that act on the browser or on
    /// Tally's origin (cookies, redirects, refreshes, HSTS, CORS, CSP, Alt-Svc).
    package static let dropped: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding",
        "upgrade", "host", "content-length",
        "set-cookie", "set-cookie2", "clear-site-data", "refresh", "location", "alt-svc", "strict-transport-security",
        // Policies a browser applies to the whole origin or to the page: reporting endpoints (NEL would send every
        // later URL of Tally's origin, invite links and `?key=` tokens included, to whoever the upstream names),
        // framing, referrers, sniffing (an upstream `none` listed first would switch Tally's `nosniff` off), hints,
        // preloads and service-worker scope. Tally sets its own where it has one.
        "nel", "report-to", "reporting-endpoints", "x-content-type-options", "x-frame-options", "referrer-policy",
        "permissions-policy", "feature-policy", "cross-origin-opener-policy", "cross-origin-embedder-policy",
        "cross-origin-resource-policy", "origin-agent-cluster", "x-xss-protection", "x-dns-prefetch-control",
        "x-permitted-cross-domain-policies", "link", "service-worker-allowed", "accept-ch", "critical-ch",
        "speculation-rules", "supports-loading-mode", "timing-allow-origin", "sourcemap", "x-sourcemap",
    ]

    package static func passesBack(_ name: String) -> Bool {
        let n = name.lowercased()
        return !dropped.contains(n) && !n.hasPrefix("content-security-policy") && !n.hasPrefix("access-control-")
    }

    /// Added to every gateway answer, the upstream's and Tally's own: whatever an upstream sends is inert in a
    /// browser (no scripts, no subresources, no sniffing a JSON body into HTML). SDK clients ignore both.
    package static let guards: [(String, String)] = [
        ("Content-Security-Policy", "sandbox; default-src 'none'"),
        ("X-Content-Type-Options", "nosniff"),
    ]
}

/// The path under `/gateway/{provider}/`, checked before it is forwarded, and which endpoints a connection allows.
package struct GatewayRoute: Equatable {
    /// The path as sent (still percent-encoded), forwarded as it is once checked.
    package var raw: String
    /// Its segments, percent-decoded, for matching.
    package var segments: [String]

    package enum Problem: Error, Equatable {
        case emptySegment, dotSegment, encodedSeparator, badEncoding
        package var message: String {
            switch self {
            case .emptySegment: "Tally gateway: the path has an empty segment (//, or a trailing /)"
            case .dotSegment: "Tally gateway: the path has a '.' or '..' segment"
            case .encodedSeparator: "Tally gateway: the path has an encoded '/' or '\\' in a segment"
            case .badEncoding: "Tally gateway: the path has a malformed percent-encoding"
            }
        }
    }

    /// `rest` is what follows `/gateway/{provider}/` in the request's path, without the query.
    package init(_ rest: Substring) throws(Problem) {
        raw = String(rest)
        segments = []
        for piece in rest.split(separator: "/", omittingEmptySubsequences: false) {
            guard !piece.isEmpty else { throw .emptySegment }
            guard let decoded = Self.percentDecoded(piece) else { throw .badEncoding }
            // Decoding twice catches %252e%252e, for an upstream (or a proxy before it) that decodes again.
            let twice = Self.percentDecoded(Substring(decoded)) ?? decoded
            for s in [decoded, twice] {
                if s == "." || s == ".." { throw .dotSegment }
                if s.contains("/") || s.contains("\\") { throw .encodedSeparator }
            }
            segments.append(decoded)
        }
        if segments.isEmpty { throw .emptySegment }
    }

    /// The path as forwarded: the decoded segments, each percent-encoded again where RFC 3986 requires it. What the
    /// endpoint check, the usage reading and the upstream see is then one and the same path: `chat/c%6Fmpletions`
    /// is read (and metered) as the `chat/completions` the upstream would take it for.
    package var canonical: String {
        segments.map { segment in
            var out = ""
            for byte in segment.utf8 {
                if Self.pathCharacters.contains(byte) {
                    out.unicodeScalars.append(Unicode.Scalar(byte))
                } else {
                    out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
                }
            }
            return out
        }.joined(separator: "/")
    }

    /// RFC 3986 `pchar` less `%`: unreserved, sub-delims, `:` and `@`.
    package static let pathCharacters: Set<UInt8> = Set(
        Array(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@".utf8))

    package static func percentDecoded(_ s: Substring) -> String? {
        guard s.contains("%") else { return String(s) }
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.popFirst() {
            guard b == UInt8(ascii: "%") else { out.append(b); continue }
            guard bytes.count >= 2, let hi = hex(bytes.removeFirst()), let lo = hex(bytes.removeFirst()) else {
                return nil
            }
            out.append(hi << 4 | lo)
        }
        return String(decoding: out, as: UTF8.self)
    }

    package static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Whether this is one of the provider's inference endpoints (calls that use a model, and listing models), with
    /// the method it takes (each provider's list is its `ProviderAPI`'s). Everything else (files, batches,
    /// fine-tuning, assistants, admin) needs a connection with `gateway_endpoints: all`.
    package func isInference(_ provider: ProviderKind, method: String) -> Bool {
        provider.api.isInference(segments: segments, method: method)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
