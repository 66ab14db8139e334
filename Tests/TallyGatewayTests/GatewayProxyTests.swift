import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import TallyCore
import TallyProviders
import TallyStoreSQL
import TallyStoreSQLite
import Testing

@testable import TallyGateway
@testable import TallyHTTP
@testable import TallyServices

/// The gateway as a proxy on Tally's origin: which headers cross in each direction, which paths and endpoints go
/// upstream, and the shared budget of bytes held whole.
@Suite struct GatewayHeaderTests {
    @Test(arguments: ProviderKind.allCases)
    func browserAndProxyHeadersNeverGoUpstream(_ provider: ProviderKind) {
        for name in [
            "Cookie", "cookie", "X-CSRF-Token", "Origin", "Referer", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host",
            "X-Forwarded-Proto", "Proxy-Authorization", "Proxy-Connection", "X-Real-IP", "Host", "Connection",
            "Content-Length", "Accept-Encoding", "X-Tally-Token", "X-Tally-Feature", "X-Tally-Connection",
            "Sec-Fetch-Site",
        ] {
            #expect(!GatewayHeaders.forwards(name, provider: provider, passThrough: false), "\(name) → \(provider)")
            #expect(
                !GatewayHeaders.forwards(name, provider: provider, passThrough: true),
                "\(name) → \(provider) (pass-through)")
        }
    }

    @Test func theSDKsHeadersGoUpstream() {
        let everyone = [
            "Content-Type", "Accept", "User-Agent", "Idempotency-Key", "X-Stainless-Lang", "X-Stainless-Retry-Count",
            "x-stainless-timeout",
        ]
        for provider in ProviderKind.allCases {
            for name in everyone {
                #expect(GatewayHeaders.forwards(name, provider: provider, passThrough: false), "\(name) → \(provider)")
            }
        }
        for name in ["OpenAI-Organization", "OpenAI-Project", "OpenAI-Beta", "X-Client-Request-Id"] {
            #expect(GatewayHeaders.forwards(name, provider: .openai, passThrough: false))
            #expect(!GatewayHeaders.forwards(name, provider: .anthropic, passThrough: false))
        }
        for name in ["anthropic-version", "anthropic-beta"] {
            #expect(GatewayHeaders.forwards(name, provider: .anthropic, passThrough: false))
            #expect(!GatewayHeaders.forwards(name, provider: .google, passThrough: false))
        }
        for name in ["x-goog-api-client", "x-goog-user-project", "X-Server-Timeout"] {
            #expect(GatewayHeaders.forwards(name, provider: .google, passThrough: false))
            #expect(!GatewayHeaders.forwards(name, provider: .openai, passThrough: false))
        }
    }

    @Test func theSDKsKeyHeaderIsTheAppsOwnKeyOnlyInPassThrough() {
        #expect(!GatewayHeaders.forwards("Authorization", provider: .openai, passThrough: false))
        #expect(GatewayHeaders.forwards("Authorization", provider: .openai, passThrough: true))
        #expect(!GatewayHeaders.forwards("x-api-key", provider: .anthropic, passThrough: false))
        #expect(GatewayHeaders.forwards("x-api-key", provider: .anthropic, passThrough: true))
        #expect(!GatewayHeaders.forwards("x-goog-api-key", provider: .google, passThrough: false))
        #expect(GatewayHeaders.forwards("x-goog-api-key", provider: .google, passThrough: true))
        #expect(!GatewayHeaders.forwards("x-api-key", provider: .openai, passThrough: true))
        #expect(!GatewayHeaders.forwards("Authorization", provider: .google, passThrough: false))
        #expect(GatewayHeaders.forwards("Authorization", provider: .google, passThrough: true))
    }

    @Test func answersLoseWhatActsOnTheBrowser() {
        for name in [
            "Set-Cookie", "set-cookie2", "Clear-Site-Data", "Refresh", "Location", "Alt-Svc",
            "Strict-Transport-Security",
            "Content-Security-Policy", "Content-Security-Policy-Report-Only", "Access-Control-Allow-Origin",
            "Access-Control-Allow-Credentials", "Transfer-Encoding", "Connection", "Content-Length",
            // Origin-wide policies: NEL would report every later URL of Tally's origin to the upstream's host.
            "NEL", "Report-To", "Reporting-Endpoints", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
            "Permissions-Policy", "Cross-Origin-Opener-Policy", "Link", "Service-Worker-Allowed",
        ] {
            #expect(!GatewayHeaders.passesBack(name), "\(name)")
        }
        for name in [
            "Content-Type", "x-request-id", "request-id", "Retry-After", "x-ratelimit-remaining-requests",
            "anthropic-ratelimit-requests-limit", "openai-processing-ms", "Content-Encoding", "x-should-retry",
        ] {
            #expect(GatewayHeaders.passesBack(name), "\(name)")
        }
    }

    @Test(
        arguments: [(400, "invalid_path"), (403, "endpoint_not_allowed"), (503, "gateway_busy"), (401, nil)]
            as [(Int, String?)])
    func tallysOwnAnswersCarryTheGuards(_ status: Int, _ code: String?) {
        for provider in ProviderKind.allCases {
            let response = GatewayErrors.response(provider, status: status, message: "m", code: code)
            #expect(response.headers[.init("Content-Security-Policy")!] == "sandbox; default-src 'none'")
            #expect(response.headers[.init("X-Content-Type-Options")!] == "nosniff")
            #expect(response.headers[.contentType] == "application/json")
        }
    }
}

@Suite struct GatewayRouteTests {
    func problem(_ rest: Substring) -> GatewayRoute.Problem? {
        do {
            _ = try GatewayRoute(rest)
            return nil
        } catch {
            return error  // the initializer throws only GatewayRoute.Problem
        }
    }

    /// What is checked, read and forwarded is one path: encoded letters are decoded, and only what a path segment
    /// may not hold is encoded again.
    @Test func theForwardedPathIsTheCheckedOne() throws {
        let chat = try GatewayRoute("v1/chat/c%6Fmpletions")
        #expect(chat.canonical == "v1/chat/completions")
        #expect(GatewayController<SQLStore<SQLiteDatabase>>.kind(.openai, chat.canonical) == .openAIChat)
        #expect(try GatewayRoute("v1/m%65ssages").canonical == "v1/messages")
        #expect(
            try GatewayRoute("v1beta/models/gemini-2.5-flash%3AgenerateContent").canonical
                == "v1beta/models/gemini-2.5-flash:generateContent")
        #expect(try GatewayRoute("v1/files/a%3Fb%20c%23d").canonical == "v1/files/a%3Fb%20c%23d")
        #expect(try GatewayRoute("v1/models/caf%C3%A9").canonical == "v1/models/caf%C3%A9")
    }

    @Test func dotSegmentsPlainOrEncodedAreRefused() {
        for rest in [
            "v1/../v1/files", "v1/./chat/completions", "..", "v1/%2e%2e/files", "v1/%2E%2e/files", "v1/.%2e/files",
            "v1/%2e/models", "v1/%252e%252e/files", "v1/models/..",
        ] {
            #expect(problem(Substring(rest)) == .dotSegment, "\(rest)")
        }
    }

    @Test func emptySegmentsAndEncodedSeparatorsAreRefused() {
        for rest in ["v1//files", "/v1/files", "v1/models/", ""] {
            #expect(problem(Substring(rest)) == .emptySegment, "\(rest)")
        }
        for rest in ["v1/files%2Ffile-1", "v1/a%5Cb", "v1/%252Ffiles"] {
            #expect(problem(Substring(rest)) == .encodedSeparator, "\(rest)")
        }
        #expect(problem("v1/models/gpt%zz") == .badEncoding)
        #expect(problem("v1/models/gpt%2") == .badEncoding)
    }

    @Test func ordinaryPathsPassAsSent() throws {
        let route = try GatewayRoute("v1beta/models/gemini-2.5-flash:streamGenerateContent")
        #expect(route.raw == "v1beta/models/gemini-2.5-flash:streamGenerateContent")
        #expect(route.segments == ["v1beta", "models", "gemini-2.5-flash:streamGenerateContent"])
        #expect(try GatewayRoute("v1/models/ft%3Agpt-4o").segments.last == "ft:gpt-4o")
        #expect(try GatewayRoute("v1/models/..foo").segments.last == "..foo")
    }

    @Test func theRestIsTakenFromThePathAsSent() {
        #expect(GatewayPaths.rest("/gateway/openai/v1/chat/completions", provider: .openai) == "v1/chat/completions")
        #expect(GatewayPaths.rest("/gateway/google/v1beta/models", provider: .google) == "v1beta/models")
        #expect(GatewayPaths.rest("/gateway//openai/v1/models", provider: .openai) == "/")
    }

    func inference(_ provider: ProviderKind, _ method: String, _ rest: Substring) -> Bool {
        (try? GatewayRoute(rest))?.isInference(provider, method: method) ?? false
    }

    @Test func openAIInferenceEndpoints() {
        for (method, path) in [
            ("POST", "v1/chat/completions"), ("POST", "v1/responses"), ("GET", "v1/responses/resp_1"),
            ("POST", "v1/responses/resp_1/cancel"), ("POST", "v1/completions"), ("POST", "v1/embeddings"),
            ("POST", "v1/moderations"), ("POST", "v1/audio/speech"), ("POST", "v1/audio/transcriptions"),
            ("POST", "v1/audio/translations"), ("POST", "v1/images/generations"), ("POST", "v1/images/edits"),
            ("POST", "v1/images/variations"), ("GET", "v1/models"), ("GET", "v1/models/gpt-4o"),
            ("POST", "chat/completions"),
        ] {
            #expect(inference(.openai, method, Substring(path)), "\(method) \(path)")
        }
        for (method, path) in [
            ("DELETE", "v1/files/file-1"), ("POST", "v1/files"), ("GET", "v1/files"), ("POST", "v1/batches"),
            ("POST", "v1/fine_tuning/jobs"), ("DELETE", "v1/models/ft:gpt-4o:org"), ("POST", "v1/uploads"),
            ("GET", "v1/organization/users"), ("POST", "v1/assistants"), ("DELETE", "v1/responses/resp_1"),
            ("GET", "v1/chat/completions"), ("POST", "v1/vector_stores"), ("POST", "v1/audio/other"),
        ] {
            #expect(!inference(.openai, method, Substring(path)), "\(method) \(path)")
        }
    }

    @Test func anthropicAndGeminiInferenceEndpoints() {
        for (method, path) in [
            ("POST", "v1/messages"), ("POST", "v1/messages/count_tokens"), ("GET", "v1/models"),
            ("GET", "v1/models/claude-sonnet-4-5"),
        ] {
            #expect(inference(.anthropic, method, Substring(path)), "\(method) \(path)")
        }
        for (method, path) in [
            ("POST", "v1/messages/batches"), ("GET", "v1/messages/batches/b1"), ("POST", "v1/files"),
            ("GET", "v1/organizations/api_keys"), ("DELETE", "v1/models/x"),
        ] {
            #expect(!inference(.anthropic, method, Substring(path)), "\(method) \(path)")
        }
        for (method, path) in [
            ("POST", "v1beta/models/gemini-2.5-flash:generateContent"),
            ("POST", "v1beta/models/gemini-2.5-flash:streamGenerateContent"),
            ("POST", "v1/models/gemini-embedding-001:embedContent"),
            ("POST", "v1beta/models/gemini-embedding-001:batchEmbedContents"),
            ("POST", "v1beta/models/gemini-2.5-flash:countTokens"), ("GET", "v1beta/models"),
            ("GET", "v1beta/models/gemini-2.5-flash"),
        ] {
            #expect(inference(.google, method, Substring(path)), "\(method) \(path)")
        }
        for (method, path) in [
            ("POST", "v1beta/files"), ("POST", "upload/v1beta/files"), ("POST", "v1beta/cachedContents"),
            ("POST", "v1beta/models/gemini-2.5-flash:batchGenerateContent"), ("DELETE", "v1beta/tunedModels/x"),
            ("POST", "v1beta/tunedModels"), ("GET", "v1beta/models/a/b"),
        ] {
            #expect(!inference(.google, method, Substring(path)), "\(method) \(path)")
        }
    }
}

@Suite struct GatewayBufferTests {
    @Test func theBudgetIsSharedAndGivenBack() {
        let buffers = GatewayBuffers(limit: 1000)
        let a = BufferLease(buffers), b = BufferLease(buffers)
        #expect(a.reserve(600))
        #expect(!b.reserve(500))
        #expect(b.reserve(400))
        #expect(buffers.inUse == 1000)
        a.releaseAll()
        #expect(buffers.inUse == 400)
        #expect(b.reserve(500))
        b.releaseAll()
        b.releaseAll()
        #expect(buffers.inUse == 0)
    }

    @Test func aLeaseDroppedWithoutReleasingGivesItsShareBack() {
        let buffers = GatewayBuffers(limit: 100)
        do {
            let lease = BufferLease(buffers)
            #expect(lease.reserve(100))
        }
        #expect(buffers.inUse == 0)
    }
}
