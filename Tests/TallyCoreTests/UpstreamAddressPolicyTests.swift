import Testing

@testable import TallyCore

@Suite struct IPAddressParsingTests {
    @Test(arguments: [
        ("127.0.0.1", "127.0.0.1"), ("10.1.2.3", "10.1.2.3"), ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
        ("::1", "0:0:0:0:0:0:0:1"), ("::", "0:0:0:0:0:0:0:0"), ("[::1]", "0:0:0:0:0:0:0:1"),
        ("fe80::1%eth0", "fe80:0:0:0:0:0:0:1"),
        ("2001:db8::8a2e:370:7334", "2001:db8:0:0:0:8a2e:370:7334"), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        // IPv4-mapped IPv6 is the IPv4 address itself, in either spelling.
        ("::ffff:127.0.0.1", "127.0.0.1"), ("::ffff:7f00:1", "127.0.0.1"),
        ("[::ffff:169.254.169.254]", "169.254.169.254"),
        ("64:ff9b::10.0.0.1", "64:ff9b:0:0:0:0:a00:1"),
    ])
    func readsAddresses(text: String, canonical: String) {
        #expect(IPAddress(text)?.description == canonical)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "0177.0.0.1", "01.2.3.4", "1.2.3.-4", "+1.2.3.4", "::1::2",
        "1:2:3:4:5:6:7:8:9",
        "12345::", "g::1", ":1", "1:2:3:4:5:6:7", "::1.2.3", "example.com", "0x7f.0.0.1",
    ])
    func refusesWhatInetPtonRefuses(text: String) {
        #expect(IPAddress(text) == nil)
    }

    /// The forms `inet_aton`, `getaddrinfo` and browsers read as IPv4: the classic ways round a filter of dotted quads.
    @Test(arguments: [
        ("2130706433", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"), ("127.1", "127.0.0.1"), ("127.0.1", "127.0.0.1"), ("0", "0.0.0.0"),
        ("0x0", "0.0.0.0"),
        ("169.254.43518", "169.254.169.254"), ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"), ("10.0x10000", "10.1.0.0"),
        ("3232235521", "192.168.0.1"), ("8.8.8.8", "8.8.8.8"),
    ])
    func readsLooseIPv4(text: String, canonical: String) {
        #expect(IPAddress(looseIPv4: text)?.description == canonical)
    }

    @Test(arguments: [
        "4294967296", "256.0.0.1", "1.2.3.256", "1.2.65536", "1.2.3.4.5", "08", "0x", "1..2", "example", "12e", "",
    ])
    func looseIPv4RefusesNonAddresses(text: String) {
        // "0x" alone is zero to inet_aton; every other one here is not an address.
        if text == "0x" {
            #expect(IPAddress(looseIPv4: text)?.description == "0.0.0.0")
        } else {
            #expect(IPAddress(looseIPv4: text) == nil)
        }
    }
}

@Suite struct CIDRTests {
    @Test func parsesAndMatchesIPv4() throws {
        let net = try #require(CIDR("10.0.0.0/8"))
        #expect(net.description == "10.0.0.0/8")
        #expect(net.contains(IPAddress("10.255.1.2")!))
        #expect(net.contains(IPAddress("::ffff:10.0.0.1")!))
        #expect(!net.contains(IPAddress("11.0.0.0")!))
        #expect(!net.contains(IPAddress("9.255.255.255")!))
        // IPv6 never falls in an IPv4 network.
        #expect(!net.contains(IPAddress("a00::1")!))
    }

    @Test func hostBitsAreMaskedAndBareAddressesAreSingleHosts() throws {
        #expect(CIDR("192.168.1.10/24")?.description == "192.168.1.0/24")
        let one = try #require(CIDR("127.0.0.1"))
        #expect(one.contains(IPAddress("127.0.0.1")!) && !one.contains(IPAddress("127.0.0.2")!))
        let v6 = try #require(CIDR("::1"))
        #expect(v6.contains(IPAddress("::1")!) && !v6.contains(IPAddress("::2")!))
        #expect(CIDR("0.0.0.0/0")!.contains(IPAddress("203.0.113.9")!))
        #expect(!CIDR("0.0.0.0/0")!.contains(IPAddress("2001:db8::1")!))
        #expect(CIDR("::/0")!.contains(IPAddress("2001:db8::1")!))
    }

    @Test func parsesAndMatchesIPv6AcrossTheHalves() throws {
        let ula = try #require(CIDR("fc00::/7"))
        #expect(
            ula.contains(IPAddress("fd12:3456::1")!) && ula.contains(IPAddress("fc00::")!)
                && !ula.contains(IPAddress("fe00::")!))
        let wide = try #require(CIDR("2001:db8:aaaa:bbbb:cc00::/72"))
        #expect(wide.contains(IPAddress("2001:db8:aaaa:bbbb:ccff::1")!))
        #expect(!wide.contains(IPAddress("2001:db8:aaaa:bbbb:cd00::1")!))
        #expect(CIDR("::1/128")!.contains(IPAddress("::1")!))
    }

    @Test(arguments: [
        "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8/8", "10.0.0/8", "host/8", "10.0.0.0/x", "",
    ])
    func refusesMalformed(text: String) {
        #expect(CIDR(text) == nil)
    }
}

@Suite struct UpstreamAddressPolicyTests {
    let strict = UpstreamAddressPolicy()

    /// One address in every refused range, and what it is called.
    @Test(arguments: [
        ("127.0.0.1", "loopback"), ("127.255.255.254", "loopback"), ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
        ("10.0.0.1", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"), ("192.168.1.1", "private"),
        ("100.64.0.1", "carrier-grade NAT"), ("100.127.255.255", "carrier-grade NAT"),
        ("fc00::1", "unique local"), ("fd00:ec2::254", "unique local"),
        ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"), ("::", "unspecified"),
        ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"), ("240.0.0.1", "reserved"), ("fec0::1", "site-local"),
        ("::7f00:1", "IPv4-compatible"),
        ("64:ff9b::a9fe:a9fe", "link-local"), ("64:ff9b::127.0.0.1", "loopback"), ("2002:7f00:1::", "loopback"),
        ("2002:c0a8:101::1", "private"),
    ])
    func refusesEveryRange(text: String, kind: String) throws {
        let why = try #require(strict.refusal(IPAddress(text)!), "\(text) was allowed")
        #expect(why.contains(kind), "\(text): \(why)")
    }

    @Test(arguments: [
        "8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.0", "100.63.255.255", "100.128.0.0", "169.253.255.255",
        "192.169.0.1", "223.255.255.255", "11.0.0.0", "2606:4700::1111", "2001:4860:4860::8888", "64:ff9b::808:808",
        "2002:808:808::1",
    ])
    func allowsPublicAddresses(text: String) {
        #expect(strict.refusal(IPAddress(text)!) == nil)
    }

    @Test(arguments: [
        "127.0.0.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
        "0.0.0.0", "0", "[::]", "169.254.169.254", "0xa9fea9fe", "10.0.0.1", "LOCALHOST", "localhost.", "api.localhost",
        "127.0.0.1.", "[fe80::1%25eth0]",
    ])
    func refusesLiteralHostsAndLocalhostBeforeResolving(host: String) {
        guard case .refused = strict.check(host: host) else {
            Issue.record("\(host): \(strict.check(host: host))")
            return
        }
    }

    @Test func namesAreResolvedAndPublicLiteralsPass() {
        #expect(strict.check(host: "api.openai.com") == .resolve(name: "api.openai.com"))
        #expect(strict.check(host: "API.OpenAI.com.") == .resolve(name: "api.openai.com"))
        #expect(strict.check(host: "8.8.8.8") == .allowed)
        #expect(strict.check(host: "[2606:4700::1111]") == .allowed)
        if case .refused = strict.check(host: "bad_host name") {} else { Issue.record("a host with a space passed") }
    }

    /// A zone is IPv6's alone: `8.8.8.8%.evil.example` was judged as 8.8.8.8 (public, allowed, not pinned) while
    /// the HTTP client, failing to read it as an address, would look the whole string up as a name.
    @Test func aZoneAfterAnIPv4AddressMakesANameNotThatAddress() {
        #expect(IPAddress("8.8.8.8%.evil.example") == nil)
        #expect(IPAddress("127.0.0.1%lo") == nil)
        #expect(strict.check(host: "8.8.8.8%.evil.example") != .allowed)
        #expect(IPAddress("fe80::1%eth0") != nil)
    }

    @Test func allowanceParsesCIDRsAddressesNamesAndStar() throws {
        let allowance = try UpstreamAllowance.parse(" 10.0.0.0/8, ::1 ,Ollama.Internal., 127.0.0.1,, ").get()
        #expect(allowance.networks.map(\.description) == ["10.0.0.0/8", "::1/128", "127.0.0.1/32"])
        #expect(allowance.hostNames == ["ollama.internal"])
        #expect(!allowance.everything)
        #expect(try UpstreamAllowance.parse("*").get().everything)
        #expect(try UpstreamAllowance.parse("").get() == UpstreamAllowance())
        for bad in ["10.0.0.0/33", "http://x", "1.2.3.999", "bad host", "-x.example", "10.1"] {
            #expect(throws: UpstreamAllowance.AllowanceItemError.self, "\(bad)") {
                try UpstreamAllowance.parse("127.0.0.0/8," + bad).get()
            }
        }
    }

    @Test func allowanceLiftsOnlyWhatItNames() throws {
        let policy = UpstreamAddressPolicy(
            allowance: try UpstreamAllowance.parse("127.0.0.0/8,fd00::/8,ollama.internal").get())
        #expect(policy.refusal(IPAddress("127.0.0.2")!) == nil)
        #expect(policy.refusal(IPAddress("::ffff:127.0.0.1")!) == nil)
        #expect(policy.refusal(IPAddress("fd12::1")!) == nil)
        #expect(policy.refusal(IPAddress("::1")!) != nil)
        #expect(policy.refusal(IPAddress("169.254.169.254")!) != nil)
        #expect(policy.refusal(IPAddress("10.0.0.1")!) != nil)
        #expect(policy.check(host: "2130706433") == .allowed)
        #expect(policy.check(host: "localhost") == .resolve(name: "localhost"))
        #expect(policy.check(host: "Ollama.Internal.") == .allowed)
        #expect(policy.check(host: "other.internal") == .resolve(name: "other.internal"))
        let everything = UpstreamAddressPolicy(allowance: try UpstreamAllowance.parse("*").get())
        #expect(everything.refusal(IPAddress("169.254.169.254")!) == nil)
        #expect(everything.check(host: "0") == .allowed)
    }
}
