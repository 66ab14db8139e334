import Foundation
import TallyCore

/// A new provider connection, as asked for: every field already checked by `ConnectionRules`.
public struct ConnectionDraft: Sendable, Equatable {
    public var provider: ProviderKind
    public var name: String
    public var apiKey: String?
    public var adminKey: String?
    public var baseURL: String?
    public var gatewayEndpoints: ProviderConnection.GatewayEndpoints
    /// Check the keys with the provider before saving (default true).
    public var validate: Bool

    public init(
        provider: ProviderKind, name: String, apiKey: String?, adminKey: String?, baseURL: String?,
        gatewayEndpoints: ProviderConnection.GatewayEndpoints = .inference, validate: Bool = true
    ) {
        self.provider = provider
        self.name = name
        self.apiKey = apiKey
        self.adminKey = adminKey
        self.baseURL = baseURL
        self.gatewayEndpoints = gatewayEndpoints
        self.validate = validate
    }
}

/// Changes to a provider connection: nil leaves a field as it is. Every field already checked by `ConnectionRules`.
public struct ConnectionChanges: Sendable, Equatable {
    public var name: String?
    public var gatewayEndpoints: ProviderConnection.GatewayEndpoints?
    public var apiKey: String?
    public var adminKey: String?
    /// nil: unchanged; `.some(nil)`: back to the provider's default.
    public var baseURL: String??
    /// Check the keys with the provider when they or the base URL change (default true).
    public var validate: Bool

    public init(
        name: String? = nil, gatewayEndpoints: ProviderConnection.GatewayEndpoints? = nil, apiKey: String? = nil,
        adminKey: String? = nil, baseURL: String?? = nil, validate: Bool = true
    ) {
        self.name = name
        self.gatewayEndpoints = gatewayEndpoints
        self.apiKey = apiKey
        self.adminKey = adminKey
        self.baseURL = baseURL
        self.validate = validate
    }
}

/// The rules for each field of a connection, one function per field, named as the API names them; whoever reads a
/// request calls them in the field order of `ConnectionDraft`, so the first problem is reported.
public enum ConnectionRules {
    public static func provider(_ raw: String?) throws(TallyError) -> ProviderKind {
        guard let raw else {
            throw TallyError.invalid([
                FieldProblem(field: "provider", reason: "is required: openai, anthropic or google")
            ])
        }
        guard let provider = ProviderKind(rawValue: raw) else {
            throw TallyError.invalid([FieldProblem(field: "provider", reason: "must be openai, anthropic or google")])
        }
        return provider
    }

    public static func name(_ raw: String) throws -> String {
        try DisplayName.validated(raw, field: "name")
    }

    /// A provider key (`field`: api_key or admin_key), trimmed.
    public static func key(_ raw: String?, field: String) throws(TallyError) -> String? {
        guard let raw else { return nil }
        let key = raw.trimmingCharacters(in: .whitespaces)
        guard (8...4096).contains(key.utf8.count), !key.contains(where: { $0.isWhitespace || $0.isNewline }) else {
            throw TallyError.invalid([
                FieldProblem(field: field, reason: "must be the provider's key: 8 to 4096 characters, no spaces")
            ])
        }
        return key
    }

    /// A new connection has a key, and an admin key only where the provider has them.
    public static func keys(_ provider: ProviderKind, apiKey: String?, adminKey: String?) throws(TallyError) {
        guard apiKey != nil || adminKey != nil else {
            throw TallyError.invalid([FieldProblem(field: "api_key", reason: "is required (or admin_key)")])
        }
        if provider == .google, adminKey != nil {
            throw TallyError.invalid([FieldProblem(field: "admin_key", reason: "google has no admin keys")])
        }
    }

    /// An http(s) URL without credentials, query or fragment, trailing slashes removed; nil or empty: the default.
    public static func baseURL(_ raw: String?) throws(TallyError) -> String? {
        guard var raw, !raw.isEmpty else { return nil }
        while raw.hasSuffix("/") { raw.removeLast() }
        guard let url = URLComponents(string: raw), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty, url.user == nil, url.password == nil, url.query == nil,
            url.fragment == nil
        else {
            throw TallyError.invalid([
                FieldProblem(
                    field: "base_url",
                    reason:
                        "must be an http(s) URL such as https://my-resource.openai.azure.com, without credentials or query"
                )
            ])
        }
        return raw
    }

    public static func gatewayEndpoints(_ raw: String?) throws(TallyError) -> ProviderConnection.GatewayEndpoints? {
        guard let raw else { return nil }
        guard let endpoints = ProviderConnection.GatewayEndpoints(rawValue: raw) else {
            throw TallyError.invalid([
                FieldProblem(
                    field: "gateway_endpoints",
                    reason:
                        "must be inference (the gateway forwards only the provider's inference endpoints) or all")
            ])
        }
        return endpoints
    }
}
