import TallySafety
import Testing

@Suite struct SecretDetectorTests {
    static let openAI = "sk-proj-Ab3dEfGh1jKlMn0pQrStUvWxYz_12345-abcdef"
    static let anthropic = "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe_dcba-XYZ"

    @Test func findsProviderKeys() {
        #expect(found(.secret, in: "key=\(Self.openAI)") == [Self.openAI])
        #expect(found(.secret, in: "export KEY=\"\(Self.anthropic)\"") == [Self.anthropic])
        let google = "AIzaSyA1234567890abcdefghijklmnopqrstuv"
        #expect(found(.secret, in: "google \(google).") == [google])
        #expect(found(.secret, in: "aws AKIAIOSFODNN7EXAMPLE id") == ["AKIAIOSFODNN7EXAMPLE"])
        #expect(found(.secret, in: "ASIAY34FZKBOKMUTVV7A") == ["ASIAY34FZKBOKMUTVV7A"])
        let github = "ghp_1234567890abcdefghijABCDEFGHIJ123456"
        #expect(found(.secret, in: "token \(github)") == [github])
        let tally = "tly_9f8e7d6c5b4a39281706abcd"
        #expect(found(.secret, in: "tally \(tally)") == [tally])
    }

    @Test func findsPrivateKeyBlocks() {
        let block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1b2c3\nq9Z8/+x==\n-----END RSA PRIVATE KEY-----"
        #expect(found(.secret, in: "here:\n\(block)\nthanks") == [block])
        let cut = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\nhkiG9w0BAQEFAASC"
        #expect(found(.secret, in: cut + " and more") == [cut])
    }

    @Test func findsJWTs() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
        #expect(found(.secret, in: "Authorization: Bearer \(jwt)") == [jwt])
    }

    @Test func refusesLookAlikes() {
        #expect(found(.secret, in: "pip install sk-learn") == [])
        #expect(found(.secret, in: "sk-my-long-hyphenated-library-name-here") == [])
        #expect(found(.secret, in: "AIzaShort and AKIA1234 and xAKIAIOSFODNN7EXAMPLE") == [])
        #expect(found(.secret, in: "AKIAIOSFODNN7EXAMPLEX") == [])  // 17 characters after AKIA
        #expect(found(.secret, in: "-----BEGIN PUBLIC KEY-----\nMFkwEwYH\n-----END PUBLIC KEY-----") == [])
        #expect(found(.secret, in: "eyJhbGciOiJIUzI1NiJ9 alone") == [])
        #expect(found(.secret, in: "task-1234567890123456789012345") == [])
    }
}
