import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import TallyCore

/// A call Tally will not make: the upstream's host is, or resolves to, an address the policy refuses. The message
/// completes "the base_url …" and never holds more than the host and the refused range.
public struct UpstreamRefused: Error, Sendable, Equatable, CustomStringConvertible {
    public let url: String
    public let reason: String
    /// The address is refused by the rules the operator can relax (rather than the URL being unusable).
    public let privateAddress: Bool
    public var description: String {
        "\(url) \(reason)"
            + (privateAddress ? "; Tally calls no such address unless TALLY_ALLOW_PRIVATE_UPSTREAMS allows it" : "")
    }
}

/// AsyncHTTPClient behind the upstream address policy, for every call that carries a provider key (validation, sync,
/// gateway). Before each request it resolves the host itself, checks every address, and sends the request to the
/// address it checked: AsyncHTTPClient's `dnsOverride` makes the client connect there while the Host header, TLS
/// server name and certificate verification still use the host name. A name that resolves elsewhere a moment later
/// (DNS rebinding) therefore reaches nothing it was not checked for. One client per (host, address) pair, kept
/// until shut down; resolutions are remembered for `resolutionTTL`, so the gateway's hot path rarely waits on DNS.
public final class UpstreamHTTP: Service, Sendable {
    public typealias Lookup = @Sendable (String) async throws -> [IPAddress]

    public let policy: UpstreamAddressPolicy
    package let configuration: HTTPClient.Configuration
    package let lookup: Lookup
    package let resolutionTTL: Duration
    private let state = Mutex(State())

    private struct State {
        package var clients: [String: HTTPClient] = [:]
        package var resolved: [String: (addresses: [IPAddress], expires: ContinuousClock.Instant)] = [:]
        package var closed = false
    }

    /// Redirects are never followed: a 3xx from an upstream is its answer, so a key cannot be led to another host.
    public init(
        policy: UpstreamAddressPolicy, configuration: HTTPClient.Configuration = HTTPClient.Configuration(),
        lookup: @escaping Lookup = UpstreamHTTP.systemLookup, resolutionTTL: Duration = .seconds(10)
    ) {
        var configuration = configuration
        configuration.redirectConfiguration = .disallow
        self.policy = policy
        self.configuration = configuration
        self.lookup = lookup
        self.resolutionTTL = resolutionTTL
    }

    /// For callers without an application (the CLI, router-only tests): one per policy, living as long as the process.
    public static func lasting(_ policy: UpstreamAddressPolicy) -> UpstreamHTTP {
        lastingClients.withLock { all in
            if let existing = all[policy] { return existing }
            let made = UpstreamHTTP(policy: policy)
            all[policy] = made
            return made
        }
    }

    private static let lastingClients = Mutex<[UpstreamAddressPolicy: UpstreamHTTP]>([:])

    public func run() async throws {
        try? await gracefulShutdown()
        try await shutdown()
    }

    public func shutdown() async throws {
        let clients = state.withLock { s -> [HTTPClient] in
            s.closed = true
            defer { s.clients.removeAll() }
            return Array(s.clients.values)
        }
        for client in clients { try await client.shutdown() }
    }

    // MARK: Checking

    /// Where a request to `url` will connect: nil to connect as the URL says (an allowed literal address, a name the
    /// operator allowed, or everything allowed), else the checked address to connect to instead of resolving again.
    public func route(_ url: String) async throws(UpstreamRefused) -> (host: String, address: IPAddress?) {
        func refuse(_ reason: String, privateAddress: Bool = false) -> UpstreamRefused {
            UpstreamRefused(url: Self.origin(url), reason: reason, privateAddress: privateAddress)
        }
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased() else {
            throw refuse("is not a URL")
        }
        guard scheme == "http" || scheme == "https" else { throw refuse("is not an http(s) URL") }
        guard parsed.user == nil, parsed.password == nil else { throw refuse("carries credentials") }
        guard var host = parsed.host, !host.isEmpty else { throw refuse("has no host") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        switch policy.check(host: host) {
        case .refused(let why):
            throw refuse(why, privateAddress: true)
        case .allowed:
            // A literal in a form only inet_aton reads (0x7f.1) goes to the address it was judged as.
            if IPAddress(host) == nil, let literal = IPAddress(looseIPv4: host) { return (host, literal) }
            return (host, nil)
        case .resolve(let name):
            let addresses: [IPAddress]
            do { addresses = try await resolve(name) } catch { throw refuse("could not be resolved (\(error))") }
            for address in addresses {
                if let why = policy.refusal(address) { throw refuse("resolves to \(why)", privateAddress: true) }
            }
            // Stay with an address already connected to, so the pool is reused while answers rotate.
            let known = state.withLock { s in addresses.first { s.clients[Self.key(host, $0)] != nil } }
            return (host, known ?? addresses[0])
        }
    }

    package func resolve(_ name: String) async throws -> [IPAddress] {
        let now = ContinuousClock.now
        if let hit = state.withLock({ $0.resolved[name] }), hit.expires > now { return hit.addresses }
        let addresses = try await lookup(name)
        guard !addresses.isEmpty else { throw LookupFailure(reason: "no addresses") }
        state.withLock { s in
            if s.resolved.count >= 10_000 { s.resolved.removeAll() }
            s.resolved[name] = (addresses, now + resolutionTTL)
        }
        return addresses
    }

    // MARK: Calling

    public func execute(_ request: HTTPClientRequest, deadline: NIODeadline) async throws -> HTTPClientResponse {
        let route = try await route(request.url)
        return try await client(host: route.host, address: route.address).execute(request, deadline: deadline)
    }

    public func execute(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPClientResponse {
        try await execute(request, deadline: .now() + timeout)
    }

    package func client(host: String, address: IPAddress?) throws -> HTTPClient {
        let key = address.map { Self.key(host, $0) } ?? ""
        return try state.withLock { s in
            guard !s.closed else { throw HTTPClientError.alreadyShutdown }
            if let client = s.clients[key] { return client }
            var configuration = self.configuration
            if let address { configuration.dnsOverride = [host: address.description] }
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            s.clients[key] = client
            return client
        }
    }

    package static func key(_ host: String, _ address: IPAddress) -> String { host + "\n" + address.description }

    /// `scheme://host[:port]` of a URL, for messages (never a path or query).
    package static func origin(_ url: String) -> String {
        guard let c = URLComponents(string: url), let scheme = c.scheme, let host = c.host else { return "the URL" }
        let shownHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "\(scheme)://\(shownHost)" + (c.port.map { ":\($0)" } ?? "")
    }

    // MARK: Resolving

    package struct LookupFailure: Error, CustomStringConvertible {
        package let reason: String
        package var description: String { reason }
    }

    /// `getaddrinfo`, on NIO's blocking-work thread pool so no event loop or task executor waits on DNS.
    public static let systemLookup: Lookup = { name in
        try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(name, nil, &hints, &list)
            guard rc == 0 else { throw LookupFailure(reason: String(cString: gai_strerror(rc))) }
            defer { freeaddrinfo(list) }
            var found: [IPAddress] = []
            var next = list
            while let info = next {
                if let sa = info.pointee.ai_addr {
                    switch info.pointee.ai_family {
                    case AF_INET:
                        let v4 = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                            UInt32(bigEndian: $0.pointee.sin_addr.s_addr)
                        }
                        found.append(IPAddress(v4: v4))
                    case AF_INET6:
                        let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                            withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
                        }
                        let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                        let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                        found.append(IPAddress(high: high, low: low))
                    default: break
                    }
                }
                next = info.pointee.ai_next
            }
            var unique: [IPAddress] = []
            for a in found where !unique.contains(a) { unique.append(a) }
            return unique
        }
    }
}
