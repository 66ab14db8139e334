import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TallyCore
import TallyProviders

/// One cheap call to the provider proves a key works: list models (or, for an admin key, one admin read).
public struct ProviderValidator: Sendable {
    public enum Outcome: Sendable, Equatable {
        case valid
        /// The provider answered, and refused: its status and its own message (with the key masked out).
        case rejected(status: Int, message: String)
        case unreachable(String)
        /// Tally refused to call the base URL: its host is, or resolves to, an address the policy refuses.
        case notAllowed(UpstreamRefused)
    }

    /// Checks every address before calling and follows no redirect (a 3xx would send the key to another host).
    package let http: UpstreamHTTP
    public init(http: UpstreamHTTP = .lasting(UpstreamAddressPolicy())) { self.http = http }

    /// The most of a provider's error message quoted back: enough to say why, too little to read an internal
    /// service's pages through the validator.
    package static let quotedMessageLimit = 200
    /// The most of an error body read to find that message; the rest is never read.
    package static let errorBodyLimit = 64 << 10

    public static func defaultBaseURL(_ provider: ProviderKind) -> String { provider.api.defaultBaseURL }

    /// The request that validates a key: path and headers per the provider's documentation.
    package static func probe(_ provider: ProviderKind, key: String, admin: Bool) -> (
        path: String, headers: [(String, String)]
    ) {
        provider.api.validationRequest(key: key, admin: admin)
    }

    public func validate(_ provider: ProviderKind, baseURL: String?, key: String, admin: Bool = false) async -> Outcome
    {
        let base = baseURL ?? Self.defaultBaseURL(provider)
        let probe = Self.probe(provider, key: key, admin: admin)
        var request = HTTPClientRequest(url: base + probe.path)
        request.method = .GET
        for (name, value) in probe.headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "User-Agent", value: "tally")
        do {
            let response = try await http.execute(request, timeout: .seconds(15))
            let status = Int(response.status.code)
            if (200..<300).contains(status) { return .valid }
            // The standard phrase for the code, never the upstream's own status line.
            let standard = HTTPResponseStatus(statusCode: status).reasonPhrase
            let phrase = standard.isEmpty ? "HTTP \(status)" : standard
            if (300..<400).contains(status) {
                return .rejected(
                    status: status, message: "\(phrase): redirects are not followed, so a key goes only to the base_url"
                )
            }
            var body: [UInt8] = []
            for try await piece in response.body {
                body += piece.readableBytesView.prefix(Self.errorBodyLimit - body.count)
                if body.count >= Self.errorBodyLimit { break }
            }
            return .rejected(status: status, message: Self.errorMessage(body, hiding: key) ?? phrase)
        } catch let refused as UpstreamRefused {
            return .notAllowed(refused)
        } catch {
            return .unreachable("could not reach \(provider.rawValue) at \(base): \(Self.describe(error))")
        }
    }

    /// The provider's own error message: OpenAI `error.message`, Anthropic `error.message`, Google `error.message`
    /// (plus Google's `status`), never the key itself (OpenAI quotes part of a wrong key back).
    public static func errorMessage(_ body: [UInt8], hiding key: String) -> String? {
        guard case .object(let top)? = try? JSONParser.parse(body),
            case .object(let error)? = top.first(where: { $0.0 == "error" })?.1
        else { return nil }
        var parts: [String] = []
        for name in ["type", "status", "code"] {
            if case .string(let v)? = error.first(where: { $0.0 == name })?.1, !v.isEmpty { parts.append(v); break }
        }
        if case .string(let m)? = error.first(where: { $0.0 == "message" })?.1 { parts.append(m) }
        guard !parts.isEmpty else { return nil }
        return redact(parts.joined(separator: ": "), key: key)
    }

    package static func redact(_ text: String, key: String) -> String {
        var out = text
        if key.count >= 8 {
            out = out.replacingOccurrences(of: key, with: ProviderConnection.mask(key))
            // Providers echo a prefix and suffix of a wrong key ("sk-abc***wxyz"); drop anything key-like.
            out = out.replacingOccurrences(
                of: #"(sk|AIza)[-_A-Za-z0-9*]{6,}"#, with: "[key]", options: .regularExpression)
        }
        return String(out.prefix(quotedMessageLimit))
    }

    package static func describe(_ error: any Error) -> String {
        switch error {
        case let e as HTTPClientError where e == .deadlineExceeded || e == .connectTimeout: "timed out"
        case let e as HTTPClientError: "\(e)"
        default: "connection failed (\(type(of: error)))"
        }
    }
}
