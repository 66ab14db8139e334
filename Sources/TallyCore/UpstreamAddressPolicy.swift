/// An IPv4 or IPv6 address as 128 bits. IPv4 is held in its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`), so a mapped
/// address written in IPv6 is the very same value as the IPv4 one and meets the same rules.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init(v4: UInt32) { self.init(high: 0, low: 0xFFFF_0000_0000 | UInt64(v4)) }

    /// The IPv4 address, when this is one (or IPv4-mapped).
    public var v4: UInt32? { high == 0 && low >> 32 == 0xFFFF ? UInt32(truncatingIfNeeded: low) : nil }

    /// An address as `inet_pton` reads it: dotted decimal IPv4, or IPv6 (brackets and a `%zone` are dropped).
    public init?(_ text: String) {
        var s = Substring(text)
        if s.hasPrefix("["), s.hasSuffix("]") { s = s.dropFirst().dropLast() }
        // A zone belongs to IPv6 only: `1.2.3.4%.evil.example` is a name (which the resolver may look up), and must
        // not be judged as the address in front of it.
        if let zone = s.firstIndex(of: "%") {
            guard s[..<zone].contains(":") else { return nil }
            s = s[..<zone]
        }
        if s.contains(":") {
            guard let (high, low) = Self.parseV6(s) else { return nil }
            self.init(high: high, low: low)
        } else {
            guard let v4 = Self.parseDottedQuad(s) else { return nil }
            self.init(v4: v4)
        }
    }

    /// IPv4 as `inet_aton` (and so `getaddrinfo` and browsers) reads it: one to four parts, each decimal, octal
    /// (`0177`) or hex (`0x7f`), the last filling the remaining bytes, so `2130706433`, `0x7f.1` and `127.1` are all
    /// 127.0.0.1. Host names in this shape are addresses, not names.
    public init?(looseIPv4 text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var values: [UInt64] = []
        for part in parts {
            guard let v = Self.number(part) else { return nil }
            values.append(v)
        }
        var value: UInt64 = 0
        for v in values.dropLast() {
            guard v <= 255 else { return nil }
            value = value << 8 | v
        }
        let lastBits = UInt64(8 * (5 - parts.count))
        guard values.last! < (1 << lastBits) else { return nil }
        value = value << lastBits | values.last!
        self.init(v4: UInt32(value))
    }

    private static func number(_ part: Substring) -> UInt64? {
        let lower = part.lowercased()
        let (digits, radix): (Substring, Int) =
            lower.hasPrefix("0x")
            ? (Substring(lower.dropFirst(2)), 16)
            : lower.count > 1 && lower.hasPrefix("0") ? (Substring(lower.dropFirst()), 8) : (Substring(lower), 10)
        if radix == 16, digits.isEmpty { return 0 }  // inet_aton reads a bare "0x" as zero
        guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ $0.isHexDigit }) else { return nil }
        return UInt64(digits, radix: radix)
    }

    private static func parseDottedQuad(_ s: Substring) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for p in parts {
            // A leading zero means octal to inet_aton ("0177" is 127): such forms are left to `looseIPv4`.
            guard (1...3).contains(p.count), p == "0" || !p.hasPrefix("0"), p.allSatisfy({ $0.isASCII && $0.isNumber }),
                let n = UInt32(p), n <= 255
            else { return nil }
            value = value << 8 | n
        }
        return value
    }

    private static func parseV6(_ s: Substring) -> (UInt64, UInt64)? {
        func groups(_ part: Substring, allowV4: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            var out: [UInt16] = []
            for (i, p) in pieces.enumerated() {
                if allowV4, i == pieces.count - 1, p.contains(".") {
                    guard let v4 = parseDottedQuad(p) else { return nil }
                    out += [UInt16(v4 >> 16), UInt16(v4 & 0xFFFF)]
                } else {
                    guard (1...4).contains(p.count), p.allSatisfy({ $0.isHexDigit }), let g = UInt16(p, radix: 16)
                    else { return nil }
                    out.append(g)
                }
            }
            return out
        }
        var all: [UInt16]
        if let gap = s.firstRange(of: "::") {
            let after = s[gap.upperBound...]
            guard !after.contains("::"), let head = groups(s[..<gap.lowerBound], allowV4: false),
                let tail = groups(after, allowV4: true), head.count + tail.count <= 7
            else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let g = groups(s, allowV4: true), g.count == 8 else { return nil }
            all = g
        }
        let high = all[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let low = all[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return (high, low)
    }

    /// Dotted decimal for IPv4, all eight groups for IPv6 (both as `inet_pton` reads them).
    public var description: String {
        if let v4 {
            return "\(v4 >> 24).\(v4 >> 16 & 0xFF).\(v4 >> 8 & 0xFF).\(v4 & 0xFF)"
        }
        let groups = [high >> 48, high >> 32, high >> 16, high, low >> 48, low >> 32, low >> 16, low].map {
            String($0 & 0xFFFF, radix: 16)
        }
        return groups.joined(separator: ":")
    }

    func masked(_ prefix: Int) -> IPAddress {
        let highMask: UInt64 = prefix >= 64 ? ~0 : prefix <= 0 ? 0 : ~0 << UInt64(64 - prefix)
        let lowMask: UInt64 = prefix <= 64 ? 0 : prefix >= 128 ? ~0 : ~0 << UInt64(128 - prefix)
        return IPAddress(high: high & highMask, low: low & lowMask)
    }
}

/// A network, `10.0.0.0/8` or `fc00::/7`; a bare address is a network of one. Host bits written after the network are
/// ignored (`192.168.1.10/24` is 192.168.1.0/24), as operators often write the address they have in mind.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let network: IPAddress
    /// In the 128-bit space: an IPv4 /8 is 104.
    public let prefix: Int
    public let description: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        let isV4 = !parts[0].contains(":")
        let width = isV4 ? 32 : 128
        var bits = width
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(parts[1]),
                n <= width
            else { return nil }
            bits = n
        }
        prefix = isV4 ? 96 + bits : bits
        network = address.masked(prefix)
        description = (isV4 ? network.description : String(parts[0])) + "/\(bits)"
    }

    public func contains(_ address: IPAddress) -> Bool { address.masked(prefix) == network }
}

/// What the operator lets upstream calls reach despite the rules (TALLY_ALLOW_PRIVATE_UPSTREAMS): networks, host
/// names (any address they resolve to), or everything (`*`).
public struct UpstreamAllowance: Hashable, Sendable {
    public var everything = false
    public var networks: [CIDR] = []
    public var hostNames: Set<String> = []

    public init(everything: Bool = false, networks: [CIDR] = [], hostNames: Set<String> = []) {
        self.everything = everything
        self.networks = networks
        self.hostNames = hostNames
    }

    /// A comma-separated list: `*`, CIDRs (`10.0.0.0/8`, `fd00::/8`), addresses, host names (`ollama.internal`).
    /// The error names the first item that is none of these.
    public static func parse(_ text: String) -> Result<UpstreamAllowance, AllowanceItemError> {
        var allowance = UpstreamAllowance()
        for raw in text.split(separator: ",") {
            let item = String(raw.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
            if item.isEmpty { continue }
            if item == "*" {
                allowance.everything = true
            } else if let network = CIDR(item) {
                allowance.networks.append(network)
            } else if let name = UpstreamAddressPolicy.hostName(item) {
                allowance.hostNames.insert(name)
            } else {
                return .failure(AllowanceItemError(item: item))
            }
        }
        return .success(allowance)
    }

    public struct AllowanceItemError: Error, Sendable, Equatable {
        public var item: String
    }
}

/// Which addresses Tally may send a provider key to. Loopback, link-local (cloud metadata at 169.254.169.254),
/// private, shared (CGNAT), unique-local, unspecified, multicast and reserved addresses are refused unless the
/// operator allows them; a host name is judged by every address it resolves to.
public struct UpstreamAddressPolicy: Hashable, Sendable {
    public struct Range: Sendable, Hashable {
        public let network: CIDR
        /// "a loopback address": how refusals describe it.
        public let kind: String
    }

    public var allowance: UpstreamAllowance

    public init(allowance: UpstreamAllowance = UpstreamAllowance()) { self.allowance = allowance }

    /// The refused ranges, most specific first (::1 is inside ::/96).
    public static let refusedRanges: [Range] = [
        ("0.0.0.0/8", "an unspecified (\"this network\") address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address (cloud metadata lives there)"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved or broadcast address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("::/96", "an IPv4-compatible address (deprecated)"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address (deprecated)"),
        ("fc00::/7", "a unique local address"),
        ("ff00::/8", "a multicast address"),
    ].map { Range(network: CIDR($0.0)!, kind: $0.1) }

    /// IPv6 prefixes that carry an IPv4 address a router will turn into IPv4 traffic: NAT64 (last 32 bits) and 6to4
    /// (bits 16 to 47). The embedded address meets the IPv4 rules.
    static let nat64 = CIDR("64:ff9b::/96")!
    static let nat64Local = CIDR("64:ff9b:1::/48")!
    static let sixToFour = CIDR("2002::/16")!

    /// The refused range `address` is in, ignoring the allowance.
    public static func refusedRange(_ address: IPAddress) -> Range? {
        if let range = refusedRanges.first(where: { $0.network.contains(address) }) { return range }
        let embedded: UInt32? =
            nat64.contains(address) || nat64Local.contains(address)
            ? UInt32(truncatingIfNeeded: address.low)
            : sixToFour.contains(address) ? UInt32(truncatingIfNeeded: address.high >> 16) : nil
        guard let v4 = embedded, let range = refusedRanges.first(where: { $0.network.contains(IPAddress(v4: v4)) })
        else { return nil }
        return Range(network: range.network, kind: range.kind + " embedded in IPv6")
    }

    /// nil when `address` may be called; otherwise what it is ("a loopback address (127.0.0.0/8)").
    public func refusal(_ address: IPAddress) -> String? {
        if allowance.everything || allowance.networks.contains(where: { $0.contains(address) }) { return nil }
        return Self.refusedRange(address).map { "\($0.kind) (\($0.network))" }
    }

    public enum HostVerdict: Sendable, Equatable {
        /// Call it as written: an allowed address literal, an allowed name, or everything is allowed.
        case allowed
        case refused(String)
        /// A host name: resolve it and judge every address.
        case resolve(name: String)
    }

    /// What can be said of a URL's host before resolving it. Literal addresses in every form `getaddrinfo` accepts
    /// (`2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]`) are judged as the address they are; `localhost` and
    /// `*.localhost` (RFC 6761) as loopback; a trailing dot changes nothing.
    public func check(host raw: String) -> HostVerdict {
        if allowance.everything { return .allowed }
        var host = raw.lowercased()
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        while host.hasSuffix(".") { host.removeLast() }
        if host.isEmpty { return .refused("has no host") }
        if allowance.hostNames.contains(host) { return .allowed }
        if let address = IPAddress(host) ?? IPAddress(looseIPv4: host) {
            return refusal(address).map { .refused("is \($0)") } ?? .allowed
        }
        if host == "localhost" || host.hasSuffix(".localhost"), let why = refusal(IPAddress(v4: 0x7F00_0001)) {
            return .refused("is \(why)")
        }
        guard Self.hostName(host) != nil else { return .refused("is not a valid host name") }
        return .resolve(name: host)
    }

    /// A host name in canonical form (lowercase, no trailing dot), or nil when `text` is not one. A name whose last
    /// label is numeric is not a name (it would be read as an address).
    public static func hostName(_ text: String) -> String? {
        var name = text.lowercased()
        while name.hasSuffix(".") { name.removeLast() }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !name.isEmpty, name.utf8.count <= 253, let last = labels.last, !last.allSatisfy({ $0.isNumber }) else {
            return nil
        }
        for label in labels {
            guard (1...63).contains(label.utf8.count), !label.hasPrefix("-"), !label.hasSuffix("-"),
                label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
            else { return nil }
        }
        return name
    }
}
