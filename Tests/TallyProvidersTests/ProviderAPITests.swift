import TallyCore
import Testing

@testable import TallyProviders

/// Every provider has its one conformance, and what it says equals what the gateway, the validator and the sync
/// wrote inline before the provider knowledge moved here (the expectations are written by hand from that code).
@Suite struct ProviderAPITests {
    @Test(arguments: ProviderKind.allCases)
    func everyProviderHasItsConformance(_ provider: ProviderKind) {
        #expect(provider.api.kind == provider)
        let expected: [ProviderKind: String] = [
            .openai: "https://api.openai.com", .anthropic: "https://api.anthropic.com",
            .google: "https://generativelanguage.googleapis.com",
        ]
        #expect(provider.api.defaultBaseURL == expected[provider])
        // The providers with organization reports are exactly those of `ProviderReport`.
        #expect((provider.api.organizationReports != nil) == !ProviderReport.reports(for: provider).isEmpty)
    }

    @Test(arguments: ProviderReport.allCases)
    func everyReportHasItsProvidersReports(_ report: ProviderReport) {
        #expect(report.provider.api.organizationReports != nil)
        #expect(!ReportQueries.path(report).isEmpty)
    }

    /// The request headers a provider forwards beyond the common ones, as the gateway's switch had them.
    @Test func providerHeadersForwardedAsBefore() {
        let names = [
            "openai-organization", "openai-project", "openai-beta", "x-client-request-id", "authorization",
            "anthropic-version", "anthropic-beta", "x-api-key", "x-goog-api-key", "x-goog-api-client",
            "x-goog-user-project", "x-server-timeout", "cookie", "x-csrf-token", "x-tally-token", "x-forwarded-for",
        ]
        // (provider, pass-through) → the names forwarded.
        let expected: [ProviderKind: (normal: Set<String>, passThrough: Set<String>)] = [
            .openai: (
                ["openai-organization", "openai-project", "openai-beta", "x-client-request-id"],
                ["openai-organization", "openai-project", "openai-beta", "x-client-request-id", "authorization"]
            ),
            .anthropic: (
                ["anthropic-version", "anthropic-beta"],
                ["anthropic-version", "anthropic-beta", "x-api-key", "authorization"]
            ),
            .google: (
                ["x-goog-api-client", "x-goog-user-project", "x-server-timeout"],
                ["x-goog-api-client", "x-goog-user-project", "x-server-timeout", "x-goog-api-key", "authorization"]
            ),
        ]
        for provider in ProviderKind.allCases {
            let api = provider.api
            #expect(
                Set(names.filter { api.forwardsHeader($0, passThrough: false) }) == expected[provider]?.normal,
                "\(provider)")
            #expect(
                Set(names.filter { api.forwardsHeader($0, passThrough: true) }) == expected[provider]?.passThrough,
                "\(provider)")
        }
    }

    /// Where the SDK's key is read from, and how the connection's key goes upstream.
    @Test func keysWhereTheGatewayReadAndPutThem() {
        func presented(_ provider: ProviderKind, _ headers: [String: String], _ query: [String: String] = [:])
            -> String?
        {
            provider.api.presentedKey(header: { headers[$0] }, query: { query[$0] })
        }
        for provider in ProviderKind.allCases {
            #expect(presented(provider, ["authorization": "Bearer tly_a"]) == "tly_a")
            #expect(
                presented(provider, ["authorization": "bearer tly_a", "x-api-key": "tly_b", "x-goog-api-key": "tly_c"])
                    == "tly_a")
            #expect(presented(provider, ["authorization": "Basic abc"]) == nil)
        }
        #expect(presented(.openai, ["x-api-key": "tly_b"], ["key": "tly_d"]) == nil)
        #expect(presented(.anthropic, ["x-api-key": "tly_b"]) == "tly_b")
        #expect(presented(.anthropic, ["x-goog-api-key": "tly_c"], ["key": "tly_d"]) == nil)
        #expect(presented(.google, ["x-goog-api-key": "tly_c"], ["key": "tly_d"]) == "tly_c")
        #expect(presented(.google, ["x-api-key": "tly_b"], ["key": "tly_d"]) == "tly_d")
        #expect(ProviderKind.allCases.map { $0.api.keyQueryParameter } == [nil, nil, "key"])

        func auth(_ provider: ProviderKind) -> [String] {
            let a = provider.api.upstreamAuth(key: "sk-1")
            return a.removed.map { "-" + $0 } + a.headers.map { "\($0.name): \($0.value)" }
        }
        #expect(auth(.openai) == ["Authorization: Bearer sk-1"])
        #expect(auth(.anthropic) == ["-Authorization", "x-api-key: sk-1"])
        #expect(auth(.google) == ["x-goog-api-key: sk-1"])
    }

    @Test func validationRequestsAsBefore() {
        func probe(_ provider: ProviderKind, admin: Bool) -> String {
            let p = provider.api.validationRequest(key: "k", admin: admin)
            return ([p.path] + p.headers.map { "\($0.0): \($0.1)" }).joined(separator: " | ")
        }
        #expect(probe(.openai, admin: false) == "/v1/models | Authorization: Bearer k")
        #expect(probe(.openai, admin: true) == "/v1/organization/projects?limit=1 | Authorization: Bearer k")
        #expect(probe(.anthropic, admin: false) == "/v1/models?limit=1 | x-api-key: k | anthropic-version: 2023-06-01")
        #expect(probe(.anthropic, admin: true) == "/v1/organizations/me | x-api-key: k | anthropic-version: 2023-06-01")
        #expect(probe(.google, admin: false) == "/v1beta/models?pageSize=1 | x-goog-api-key: k")
        #expect(probe(.google, admin: true) == "/v1beta/models?pageSize=1 | x-goog-api-key: k")
    }

    /// The gateway's path → capture kind, and each kind's operation, as its two switches had them.
    @Test func captureKindsAndOperationsAsBefore() {
        let cases: [(ProviderKind, String, UsageCapture.Kind, Operation)] = [
            (.openai, "v1/chat/completions", .openAIChat, .chat), (.openai, "chat/completions", .openAIChat, .chat),
            (.openai, "v1/responses", .openAIResponses, .chat),
            (.openai, "v1/embeddings", .openAIEmbeddings, .embedding),
            (.openai, "v1/completions", .openAICompletions, .completion), (.openai, "v1/models", .other, .other),
            (.openai, "v1/responses/resp_1", .other, .other),
            (.anthropic, "v1/messages", .anthropicMessages, .chat),
            (.anthropic, "v1/messages/count_tokens", .other, .other),
            (.anthropic, "messages", .other, .other),
            (.google, "v1beta/models/gemini-2.5-flash:generateContent", .geminiGenerate, .chat),
            (.google, "v1beta/models/gemini-2.5-flash:streamGenerateContent", .geminiGenerate, .chat),
            (.google, "v1beta/models/text-embedding-004:embedContent", .geminiEmbed, .embedding),
            (.google, "v1beta/models/text-embedding-004:batchEmbedContents", .geminiEmbed, .embedding),
            (.google, "v1beta/models/gemini-2.5-flash:countTokens", .other, .other),
        ]
        for (provider, path, kind, operation) in cases {
            #expect(provider.api.captureKind(path: path) == kind, "\(provider) \(path)")
            #expect(kind.operation == operation, "\(path)")
            #expect(kind.provider == (kind == .other ? nil : provider), "\(path)")
        }
        #expect(
            GoogleAPI().streamsByPath("v1beta/models/m:streamGenerateContent")
                && !GoogleAPI().streamsByPath("v1beta/models/m:generateContent"))
        #expect(!OpenAIAPI().streamsByPath("v1/chat/completions") && !AnthropicAPI().streamsByPath("v1/messages"))
        #expect(GoogleAPI().model(inPath: "v1beta/models/gemini-2.5-flash:generateContent") == "gemini-2.5-flash")
        #expect(GoogleAPI().model(inPath: "v1beta/models/gemini-2.5-flash") == "gemini-2.5-flash")
        #expect(GoogleAPI().model(inPath: "v1beta/files") == nil)
        #expect(OpenAIAPI().model(inPath: "v1/models/gpt-4o") == nil)
    }

    @Test func onlyOpenAIsStreamedChatAsksForTheUsageChunk() throws {
        func parse(_ s: String) throws -> JSONValue { try JSONParser.parse(Array(s.utf8)) }
        let api = OpenAIAPI()
        let patched = try #require(
            api.requestAskingForUsage(
                try parse(#"{"model":"m","stream":true,"stream_options":{"x":1,"include_usage":false}}"#),
                kind: .openAIChat))
        #expect(
            JSONWriter.encode(patched) == #"{"model":"m","stream":true,"stream_options":{"x":1,"include_usage":true}}"#)
        #expect(api.requestAskingForUsage(try parse(#"{"stream":true}"#), kind: .openAIResponses) == nil)
        #expect(api.requestAskingForUsage(try parse(#"{"stream":false}"#), kind: .openAIChat) == nil)
        #expect(
            api.requestAskingForUsage(
                try parse(#"{"stream":true,"stream_options":{"include_usage":true}}"#), kind: .openAIChat) == nil)
        #expect(AnthropicAPI().requestAskingForUsage(try parse(#"{"stream":true}"#), kind: .anthropicMessages) == nil)
    }

    /// Tally's own refusals, in each provider's error format, byte for byte.
    @Test func errorBodiesAsBefore() {
        #expect(
            OpenAIAPI().errorBody(status: 401, message: "m", code: nil)
                == #"{"error":{"message":"m","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#)
        #expect(
            OpenAIAPI().errorBody(status: 422, message: "m", code: nil)
                == #"{"error":{"message":"m","type":"tally_gateway_error","param":null,"code":"upstream_not_allowed"}}"#
        )
        #expect(
            AnthropicAPI().errorBody(status: 503, message: "m", code: "gateway_busy")
                == #"{"type":"error","error":{"type":"overloaded_error","message":"m"}}"#)
        #expect(
            GoogleAPI().errorBody(status: 413, message: "m", code: nil)
                == #"{"error":{"code":413,"message":"m","status":"INVALID_ARGUMENT"}}"#)
        #expect(
            OpenAIAPI().streamErrorEvent(message: "m", code: "c")
                == "data: {\"error\":{\"message\":\"m\",\"type\":\"timeout\",\"param\":null,\"code\":\"c\"}}\n\n")
        #expect(
            AnthropicAPI().streamErrorEvent(message: "m", code: "c")
                == "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"timeout_error\",\"message\":\"m\"}}\n\n"
        )
        #expect(GoogleAPI().streamErrorEvent(message: "m", code: "c") == nil)
    }

    /// A guardrail's block: each status gives the type (Gemini: the google.rpc status) its provider's SDK maps to
    /// PermissionDenied (403), RateLimit (429) and BadRequest (400) errors.
    @Test func guardrailStatusesMapToTheSDKsErrors() throws {
        func body(_ provider: ProviderKind, _ status: Int, _ code: String?) throws -> JSONValue {
            try JSONParser.parse(Array(provider.api.errorBody(status: status, message: "m", code: code).utf8))
        }
        let cases: [(Int, String, String, String, String)] = [
            // status, code, OpenAI type, Anthropic type, Gemini status
            (403, "permission_denied", "permission_denied", "permission_error", "PERMISSION_DENIED"),
            (429, "rate_limit_exceeded", "rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED"),
            (429, "budget_exceeded", "rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED"),
            (400, "invalid_request", "invalid_request_error", "invalid_request_error", "INVALID_ARGUMENT"),
        ]
        for (status, code, openAI, anthropic, gemini) in cases {
            let o = try body(.openai, status, code)
            #expect(o["error"]?["type"] == .string(openAI) && o["error"]?["code"] == .string(code), "\(status)")
            #expect(o["error"]?["message"] == .string("m") && o["error"]?["param"] == .null)
            let a = try body(.anthropic, status, code)
            #expect(a["type"] == .string("error") && a["error"]?["type"] == .string(anthropic), "\(status)")
            let g = try body(.google, status, code)
            #expect(g["error"]?["status"] == .string(gemini) && g["error"]?["code"] == .number("\(status)"))
        }
        // Without a code, OpenAI's body still names the kind.
        #expect(try body(.openai, 403, nil)["error"]?["code"] == .string("permission_denied"))
        #expect(try body(.openai, 429, nil)["error"]?["code"] == .string("rate_limit_exceeded"))
        #expect(try body(.openai, 400, nil)["error"]?["code"] == .null)
    }

    /// The output a request allows, per provider; only a non-negative integer that fits counts.
    @Test func requestedMaxOutputTokensPerProvider() throws {
        func allowed(_ provider: ProviderKind, _ text: String) throws -> Int? {
            provider.api.requestedMaxOutputTokens(try JSONParser.parse(Array(text.utf8)))
        }
        #expect(try allowed(.openai, #"{"max_completion_tokens":100,"max_tokens":50,"max_output_tokens":7}"#) == 100)
        #expect(try allowed(.openai, #"{"max_completion_tokens":null,"max_tokens":50}"#) == 50)
        #expect(try allowed(.openai, #"{"max_output_tokens":70}"#) == 70)
        #expect(try allowed(.openai, #"{"max_completion_tokens":"9","max_output_tokens":70}"#) == 70)
        #expect(try allowed(.openai, #"{"model":"gpt-4o"}"#) == nil)
        #expect(try allowed(.anthropic, #"{"max_tokens":1024}"#) == 1024)
        #expect(try allowed(.anthropic, #"{"max_completion_tokens":1024}"#) == nil)
        #expect(try allowed(.google, #"{"generationConfig":{"maxOutputTokens":256}}"#) == 256)
        #expect(try allowed(.google, #"{"maxOutputTokens":256,"max_tokens":1}"#) == nil)
        #expect(try allowed(.openai, #"{"max_tokens":0}"#) == 0)
        // A number that is not a plain integer is still the bound it says, never less (a provider may take `1e3`).
        #expect(try allowed(.openai, #"{"max_tokens":1.5}"#) == 2)
        #expect(try allowed(.anthropic, #"{"max_tokens":1e3}"#) == 1000)
        #expect(try allowed(.openai, #"{"max_tokens":99999999999999999999}"#) == 1_000_000_000_000)
        #expect(try allowed(.google, #"{"generation_config":{"max_output_tokens":300}}"#) == 300)
        #expect(
            try allowed(
                .google, #"{"generationConfig":{"maxOutputTokens":10},"generation_config":{"max_output_tokens":300}}"#)
                == 300)
        for bad in ["-1", "-1.5", #""100""#, "true", "[1]", "{}"] {
            for (provider, text) in [
                (ProviderKind.openai, #"{"max_tokens":\#(bad)}"#), (.openai, #"{"max_output_tokens":\#(bad)}"#),
                (.anthropic, #"{"max_tokens":\#(bad)}"#),
                (.google, #"{"generationConfig":{"maxOutputTokens":\#(bad)}}"#),
            ] {
                #expect(try allowed(provider, text) == nil, "\(provider) \(text)")
            }
        }
    }

    /// How many answers a request asks for, 1...128.
    @Test func requestedAnswersPerProvider() throws {
        func answers(_ provider: ProviderKind, _ text: String) throws -> Int {
            provider.api.requestedAnswers(try JSONParser.parse(Array(text.utf8)))
        }
        #expect(try answers(.openai, #"{"n":4}"#) == 4)
        #expect(try answers(.openai, #"{"n":2,"best_of":5}"#) == 5)
        #expect(try answers(.openai, #"{"n":100000}"#) == 128)
        #expect(try answers(.openai, #"{"n":0}"#) == 1)
        #expect(try answers(.openai, #"{"n":"4"}"#) == 1)
        #expect(try answers(.google, #"{"generationConfig":{"candidateCount":3}}"#) == 3)
        #expect(try answers(.anthropic, #"{"n":4}"#) == 1)
    }

    @Test func onlyProvidersWithReportsSync() {
        #expect(ProviderKind.allCases.filter { $0.api.organizationReports != nil } == [.openai, .anthropic])
        #expect(ProviderKind.allCases.map(\.api.displayName) == ["OpenAI", "Anthropic", "Google"])
        #expect(ReportQueries.groupBy(.openAIImages) == ["model", "project_id", "api_key_id"])
        #expect(
            ReportQueries.groupBy(.anthropicMessages) == [
                "model", "api_key_id", "workspace_id", "service_tier", "context_window",
            ])
        #expect(ProviderReport.allCases.map(ReportQueries.pageSize) == [1, 7, 7, 7, 7, 7, 7, 1, 1])
    }
}
