import AsyncHTTPClient
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import TallyCore
@testable import TallyGateway
@testable import TallyHTTP
@testable import TallyServer
@testable import TallyServices
@testable import TallyWeb

/// The connect-time half of the upstream address policy, with a scripted resolver standing in for DNS.
@Suite struct UpstreamHTTPTests {
    static let publicAddress = IPAddress("93.184.216.34")!

    /// DNS rebinding: a name that resolved to a public address at one call and to loopback at the next is refused at
    /// that next call, before anything is sent.
    @Test func aNameIsJudgedByWhatItResolvesToAtEachCall() async throws {
        let answers = Mutex([[Self.publicAddress], [IPAddress("127.0.0.1")!]])
        let http = UpstreamHTTP(
            policy: UpstreamAddressPolicy(),
            lookup: { _ in answers.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] } }, resolutionTTL: .zero)
        let first = try await http.route("https://rebind.example/v1/models")
        #expect(first.address == Self.publicAddress)
        await #expect(throws: UpstreamRefused.self) { try await http.route("https://rebind.example/v1/models") }
        let refused = await #expect(throws: UpstreamRefused.self) {
            _ = try await http.execute(HTTPClientRequest(url: "https://rebind.example/v1/models"), timeout: .seconds(5))
        }
        #expect(refused?.description.contains("resolves to a loopback address (127.0.0.0/8)") == true)
        try await http.shutdown()
    }

    /// One refused address among public ones is enough: the client could have connected to any of them.
    @Test func everyAddressOfANameIsChecked() async throws {
        let http = UpstreamHTTP(
            policy: UpstreamAddressPolicy(),
            lookup: { _ in [Self.publicAddress, IPAddress("169.254.169.254")!] })
        let refused = await #expect(throws: UpstreamRefused.self) { try await http.route("http://mixed.example") }
        #expect(refused?.reason.contains("link-local") == true)
        try await http.shutdown()
    }

    @Test func literalsSchemesAndCredentialsAreRefusedWithoutResolving() async throws {
        let lookups = Atomic(0)
        let http = UpstreamHTTP(
            policy: UpstreamAddressPolicy(),
            lookup: { _ in
                lookups.add(1, ordering: .relaxed)
                return [Self.publicAddress]
            })
        for url in [
            "http://127.0.0.1:8080/v1", "http://[::ffff:127.0.0.1]/", "http://2130706433/", "http://0x7f.1/",
            "http://localhost./",
            "http://[::]/", "file:///etc/passwd", "http://user:pw@example.com/", "ftp://example.com/",
        ] {
            await #expect(throws: UpstreamRefused.self, "\(url)") { try await http.route(url) }
        }
        #expect(lookups.load(ordering: .relaxed) == 0)
        _ = try await http.route("https://api.openai.com/v1/models")
        #expect(lookups.load(ordering: .relaxed) == 1)
        try await http.shutdown()
    }

    /// The request goes to the address that was checked, not to a second resolution of its own: a name only the
    /// scripted resolver knows reaches the loopback server it names (allowed here), Host header intact.
    @Test func theConnectionGoesToTheCheckedAddress() async throws {
        let router = Router()
        router.get("/where") { request, _ in request.head.authority ?? "" }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let policy = UpstreamAddressPolicy(allowance: try UpstreamAllowance.parse("127.0.0.0/8").get())
            let http = UpstreamHTTP(
                policy: policy,
                lookup: { name in
                    name == "only-the-test-knows.invalid" ? [IPAddress("127.0.0.1")!] : []
                })
            let response = try await http.execute(
                HTTPClientRequest(url: "http://only-the-test-knows.invalid:\(port)/where"), timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1024)
            #expect(response.status == .ok)
            #expect(String(buffer: body) == "only-the-test-knows.invalid:\(port)")
            try await http.shutdown()
        }
    }

    /// Redirects are answers, never followed: the validator reports the 3xx and the key goes nowhere else.
    @Test func redirectsAreNotFollowed() async throws {
        let router = Router()
        let stolen = Atomic(0)
        router.get("/v1/models") { _, _ in
            Response(status: .found, headers: [.location: "/stolen"])
        }
        router.get("/stolen") { _, _ in
            stolen.add(1, ordering: .relaxed)
            return "stolen"
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let policy = UpstreamAddressPolicy(allowance: try UpstreamAllowance.parse("127.0.0.0/8").get())
            let http = UpstreamHTTP(policy: policy)
            let outcome = await ProviderValidator(http: http).validate(
                .openai, baseURL: "http://127.0.0.1:\(port)", key: "sk-test-0123456789")
            guard case .rejected(let status, let message) = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(status == 302 && message.contains("redirects are not followed"))
            #expect(stolen.load(ordering: .relaxed) == 0)
            try await http.shutdown()
        }
    }

    @Test func theSettingIsParsedAndABadItemNamed() throws {
        let config = try TallyConfig.load(
            environment: ["TALLY_ALLOW_PRIVATE_UPSTREAMS": "10.0.0.0/8, ollama.internal"], flags: [:])
        #expect(config.upstreamPolicy.allowance.networks.map(\.description) == ["10.0.0.0/8"])
        #expect(config.upstreamPolicy.allowance.hostNames == ["ollama.internal"])
        #expect(try TallyConfig.load(environment: [:], flags: [:]).upstreamPolicy == UpstreamAddressPolicy())
        #expect(throws: TallyConfig.Problem.self) {
            try TallyConfig.load(environment: ["TALLY_ALLOW_PRIVATE_UPSTREAMS": "10.0.0.0/99"], flags: [:])
        }
    }
}
