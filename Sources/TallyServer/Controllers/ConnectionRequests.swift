import TallyCore
import TallyServices

/// The request bodies of the connection API, read into the service's typed inputs. Fields are read and checked in
/// the order the API has always reported them, so the first problem named is the same.
extension ConnectionDraft {
    /// `POST /api/v1/provider-connections`.
    init(body: JSONValue) throws {
        let fields = try JSONFields(
            body,
            allowed: [
                "provider", "name", "api_key", "admin_key", "base_url", "validate",
                "gateway_endpoints",
            ])
        let provider = try ConnectionRules.provider(try fields.string("provider"))
        let name = try ConnectionRules.name(try fields.string("name") ?? provider.rawValue)
        let apiKey = try ConnectionRules.key(try fields.string("api_key"), field: "api_key")
        let adminKey = try ConnectionRules.key(try fields.string("admin_key"), field: "admin_key")
        try ConnectionRules.keys(provider, apiKey: apiKey, adminKey: adminKey)
        let baseURL = try ConnectionRules.baseURL(try fields.string("base_url"))
        let endpoints = try ConnectionRules.gatewayEndpoints(try fields.string("gateway_endpoints")) ?? .inference
        self.init(
            provider: provider, name: name, apiKey: apiKey, adminKey: adminKey, baseURL: baseURL,
            gatewayEndpoints: endpoints, validate: try fields.bool("validate") ?? true)
    }
}

extension ConnectionChanges {
    /// `PATCH /api/v1/provider-connections/{id}`: a `base_url` given as null or "" goes back to the provider's default.
    init(body: JSONValue) throws {
        let fields = try JSONFields(
            body, allowed: ["name", "api_key", "admin_key", "base_url", "validate", "gateway_endpoints"])
        let name = try fields.string("name").map(ConnectionRules.name)
        let endpoints = try ConnectionRules.gatewayEndpoints(try fields.string("gateway_endpoints"))
        let apiKey = try ConnectionRules.key(try fields.string("api_key"), field: "api_key")
        let adminKey = try ConnectionRules.key(try fields.string("admin_key"), field: "admin_key")
        let baseURL: String?? =
            fields.members["base_url"] == nil ? nil : .some(try ConnectionRules.baseURL(try fields.string("base_url")))
        self.init(
            name: name, gatewayEndpoints: endpoints, apiKey: apiKey, adminKey: adminKey, baseURL: baseURL,
            validate: try fields.bool("validate") ?? true)
    }
}
