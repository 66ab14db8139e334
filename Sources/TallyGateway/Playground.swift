import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import TallyCore
import TallyIngest
import TallyProviders
import TallyServices

/// What a playground send asks for (issue 21): one system prompt and one prompt to one model of one connection, as one
/// of the organization's projects. Checked field by field; every problem is reported at once.
package struct PlaygroundRequest: Sendable {
    package var connectionID: String
    package var projectName: String
    package var model: String
    package var system: String
    package var prompt: String
    package var maxTokens: Int
    /// As the person typed it ("0.7"): sent upstream as this JSON number literal.
    package var temperature: String?

    package static let fields: Set<String> = [
        "connection", "project", "model", "system", "prompt", "max_tokens", "temperature",
    ]

    package init(_ members: [String: JSONValue], forEstimate: Bool = false) throws {
        var problems: [FieldProblem] = []
        func text(_ field: String, required: Bool, max: Int) -> String {
            switch members[field] {
            case .string(let s)?:
                if s.utf8.count > max {
                    problems.append(FieldProblem(field: field, reason: "is longer than \(max) bytes"))
                }
                if s.unicodeScalars.contains(where: { $0.value == 0 }) {
                    problems.append(FieldProblem(field: field, reason: "must not contain NUL characters"))
                }
                if required, s.trimmingSpaces().isEmpty {
                    problems.append(FieldProblem(field: field, reason: "is required"))
                }
                return s
            case nil, .null?:
                if required { problems.append(FieldProblem(field: field, reason: "is required")) }
                return ""
            default:
                problems.append(FieldProblem(field: field, reason: "must be a string"))
                return ""
            }
        }
        connectionID = text("connection", required: true, max: 128)
        projectName = text("project", required: !forEstimate, max: 128)
        model = text("model", required: true, max: 128)
        system = text("system", required: false, max: 100_000)
        prompt = text("prompt", required: true, max: 100_000)
        // A model name goes into Gemini's path: letters, digits and . _ - : only.
        if !model.isEmpty,
            !model.unicodeScalars.allSatisfy({
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                    || ".-_:".unicodeScalars.contains($0)
            })
        {
            problems.append(FieldProblem(field: "model", reason: "may hold letters, digits and . - _ : only"))
        }
        maxTokens = 1024
        switch members["max_tokens"] {
        case nil, .null?: break
        case .number(let literal)? where Int(literal).map({ (1...65_536).contains($0) }) == true:
            maxTokens = Int(literal)!
        default: problems.append(FieldProblem(field: "max_tokens", reason: "must be a whole number from 1 to 65536"))
        }
        switch members["temperature"] {
        case nil, .null?: temperature = nil
        case .number(let literal)? where Double(literal).map({ $0.isFinite && (0...2).contains($0) }) == true:
            temperature = literal
        default:
            temperature = nil
            problems.append(FieldProblem(field: "temperature", reason: "must be a number from 0 to 2"))
        }
        guard problems.isEmpty else { throw TallyError.invalid(problems) }
    }

    /// The path under `/gateway/{provider}/`, its query, and the streaming request body in the provider's format.
    package func upstreamCall(_ provider: ProviderKind) -> (rest: String, query: String, body: JSONValue) {
        let temperature: [(String, JSONValue)] = self.temperature.map { [("temperature", .number($0))] } ?? []
        let maxTokens = JSONValue.number(String(maxTokens))
        switch provider {
        case .openai:
            var messages: [JSONValue] = []
            if !system.isEmpty {
                messages.append(.object([("role", .string("system")), ("content", .string(system))]))
            }
            messages.append(.object([("role", .string("user")), ("content", .string(prompt))]))
            return (
                "v1/chat/completions", "",
                .object(
                    [("model", .string(model)), ("messages", .array(messages)), ("max_completion_tokens", maxTokens)]
                        + temperature + [
                            ("stream", .bool(true)),
                            ("stream_options", .object([("include_usage", .bool(true))])),
                        ])
            )
        case .anthropic:
            let system: [(String, JSONValue)] = self.system.isEmpty ? [] : [("system", .string(self.system))]
            return (
                "v1/messages", "",
                .object(
                    [("model", .string(model)), ("max_tokens", maxTokens)] + system + [
                        ("messages", .array([.object([("role", .string("user")), ("content", .string(prompt))])]))
                    ] + temperature + [("stream", .bool(true))])
            )
        case .google:
            let system: [(String, JSONValue)] =
                self.system.isEmpty
                ? []
                : [("systemInstruction", .object([("parts", .array([.object([("text", .string(self.system))])]))]))]
            return (
                "v1beta/models/\(model):streamGenerateContent", "alt=sse",
                .object(
                    [
                        (
                            "contents",
                            .array([
                                .object([
                                    ("role", .string("user")),
                                    ("parts", .array([.object([("text", .string(prompt))])])),
                                ])
                            ])
                        )
                    ] + system + [("generationConfig", .object([("maxOutputTokens", maxTokens)] + temperature))])
            )
        }
    }

    /// A first guess of the prompt's input tokens before any provider counts them: a token per 4 bytes of UTF-8
    /// (the rule of thumb the providers give for English), at least 1.
    package var estimatedInputTokens: Int64 {
        max(1, Int64((system.utf8.count + 3) / 4 + (prompt.utf8.count + 3) / 4))
    }
}

extension GatewayController {
    /// One playground send: the signed-in member's call as `project`, through every step of the gateway after
    /// authentication (choose upstream, filters, guardrails, relay, record), with a preset event id the page polls.
    package func playground(
        _ p: PlaygroundRequest, connection: ProviderConnection, project: Project, user: User, eventID: String
    ) async throws -> Response {
        let provider = connection.provider
        let (rest, query, body) = p.upstreamCall(provider)
        let token = APIToken(
            id: "session:\(user.id)", organizationID: project.organizationID, projectID: project.id,
            projectName: project.name, name: "playground", scopes: [.gateway], hint: "", createdAt: .now,
            createdBy: user.id)
        let route: GatewayRoute
        do {
            route = try GatewayRoute(Substring(rest))
        } catch {
            throw TallyError.invalid([FieldProblem(field: "model", reason: "is not a model name the path can carry")])
        }
        var call = GatewayCall(provider: provider, route: route, token: token, passThrough: false)
        call.eventID = eventID
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[HTTPField.Name("X-Tally-Connection")!] = connection.id
        fields[HTTPField.Name("X-Tally-Feature")!] = "playground"
        fields[HTTPField.Name("X-Tally-User")!] = user.email
        if provider == .anthropic { fields[HTTPField.Name("anthropic-version")!] = "2023-06-01" }
        let path =
            "/" + (GatewayPaths.prefixes.first { $0.0 == provider }?.1 ?? "") + "/" + rest
            + (query.isEmpty ? "" : "?" + query)
        let request = Request(
            head: HTTPRequest(method: .post, scheme: "http", authority: "playground", path: path, headerFields: fields),
            body: RequestBody(buffer: ByteBuffer(string: JSONWriter.encode(body))))
        return try await proceed(call, request)
    }

    /// The provider's own count of the prompt's input tokens, where it has a count endpoint (Anthropic's
    /// `messages/count_tokens`, Gemini's `countTokens`); nil for OpenAI, or when the count fails. Free: not recorded.
    package func countTokens(_ p: PlaygroundRequest, connection: ProviderConnection, organizationID: String) async
        -> Int64?
    {
        guard connection.provider != .openai,
            let upstream = try? await credentials.upstreams(
                organizationID: organizationID, provider: connection.provider
            )
            .first(where: { $0.connection.id == connection.id }),
            let key = upstream.apiKey
        else { return nil }
        let base = connection.baseURL ?? connection.provider.api.defaultBaseURL
        var head: HTTPClientRequest
        let body: JSONValue
        let call = p.upstreamCall(connection.provider)
        switch connection.provider {
        case .anthropic:
            head = HTTPClientRequest(url: base + "/v1/messages/count_tokens")
            head.headers.add(name: "anthropic-version", value: "2023-06-01")
            guard case .object(let members) = call.body else { return nil }
            body = .object(members.filter { ["model", "system", "messages"].contains($0.0) })
        case .google:
            head = HTTPClientRequest(url: base + "/v1beta/models/\(p.model):countTokens")
            guard case .object(let members) = call.body else { return nil }
            body = .object(members.filter { ["contents", "systemInstruction"].contains($0.0) })
        case .openai:
            return nil
        }
        head.method = .POST
        head.headers.add(name: "content-type", value: "application/json")
        Self.authorize(&head.headers, connection.provider, key: key)
        guard
            let response = try? await http.send(head, body: .bytes(ByteBuffer(string: JSONWriter.encode(body)))),
            response.status == .ok,
            let bytes = try? await response.body.collect(upTo: 1 << 20),
            let json = try? JSONParser.parse(bytes.readableBytesView)
        else { return nil }
        let count = json["input_tokens"] ?? json["totalTokens"]
        guard case .number(let literal)? = count, let n = Int64(literal), n >= 0 else { return nil }
        return n
    }
}

extension GatewayController {
    /// The models the connection's provider lists for its key (`GET /v1/models`, Gemini's `/v1beta/models`), names
    /// only, sorted; empty when the list cannot be read. At most 1 MiB of answer and 1,000 names are read.
    package func listModels(connection: ProviderConnection, organizationID: String) async -> [String] {
        guard
            let upstream = try? await credentials.upstreams(
                organizationID: organizationID, provider: connection.provider
            )
            .first(where: { $0.connection.id == connection.id }),
            let key = upstream.apiKey
        else { return [] }
        let base = connection.baseURL ?? connection.provider.api.defaultBaseURL
        var head = HTTPClientRequest(url: base + (connection.provider == .google ? "/v1beta/models" : "/v1/models"))
        head.method = .GET
        if connection.provider == .anthropic { head.headers.add(name: "anthropic-version", value: "2023-06-01") }
        Self.authorize(&head.headers, connection.provider, key: key)
        guard let response = try? await http.send(head, body: nil), response.status == .ok,
            let bytes = try? await response.body.collect(upTo: 1 << 20),
            let json = try? JSONParser.parse(bytes.readableBytesView)
        else { return [] }
        guard case .array(let items)? = json["data"] ?? json["models"] else { return [] }
        let names: [String] = items.prefix(1000).compactMap { item in
            guard case .string(let name)? = item["id"] ?? item["name"] else { return nil }
            let bare = name.hasPrefix("models/") ? String(name.dropFirst(7)) : name
            return EventRules.textProblem(bare, field: "model") == nil ? bare : nil
        }
        return Array(Set(names)).sorted()
    }
}
