import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The reverse proxies whose `X-Forwarded-For` Tally believes (TALLY_TRUSTED_PROXIES), and the client address that
/// follows. Without them every client behind a proxy has the proxy's address, so the sign-in throttle's per-address
/// limit would be one limit for everybody; believing the header from anyone else would let a client pick its address.
public struct TrustedProxies: Sendable, Equatable {
    package struct Network: Sendable, Equatable {
        package let bytes: [UInt8]
        package let prefixLength: Int

        package func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var remaining = prefixLength
            for (a, b) in zip(address, bytes) where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if a & mask != b & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    package let networks: [Network]

    public static let none = TrustedProxies(networks: [])

    /// `10.0.0.0/8, 192.168.1.7, fd00::/8`: CIDRs or single addresses, separated by commas or spaces.
    /// On failure, the reason names the first entry that is neither.
    public static func parse(_ text: String) -> Result<TrustedProxies, ParseProblem> {
        var networks: [Network] = []
        for entry in text.split(whereSeparator: { $0 == "," || $0 == " " }) {
            let parts = entry.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let bytes = addressBytes(String(parts[0])) else {
                return .failure(ParseProblem(entry: String(entry)))
            }
            var length = bytes.count * 8
            if parts.count == 2 {
                guard let n = Int(parts[1]), (0...bytes.count * 8).contains(n) else {
                    return .failure(ParseProblem(entry: String(entry)))
                }
                length = n
            }
            networks.append(Network(bytes: bytes, prefixLength: length))
        }
        return .success(TrustedProxies(networks: networks))
    }

    public struct ParseProblem: Error, Sendable, Equatable {
        public let entry: String
        public init(entry: String) { self.entry = entry }
    }

    public func contains(_ address: String) -> Bool {
        guard let bytes = Self.addressBytes(address) else { return false }
        return networks.contains { $0.contains(bytes) }
    }

    /// The client's address. A peer that is not a trusted proxy is the client. Behind trusted proxies, each one
    /// appends the address it was reached from to `X-Forwarded-For`, so the client is the rightmost entry that is not
    /// a trusted proxy (entries further left were written by the client and prove nothing).
    public func clientAddress(peer: String, forwardedFor headers: [String]) -> String {
        guard contains(peer) else { return peer }
        let hops = headers.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
        for hop in hops.reversed() where !contains(hop) { return hop }
        return hops.first ?? peer
    }

    /// IPv4 as 4 bytes, IPv6 as 16; an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as its IPv4 bytes.
    package static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes.prefix(10).allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            return Array(bytes.suffix(4))
        }
        return bytes
    }
}
