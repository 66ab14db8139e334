import TallyCore
import TallyServices
import Testing

@testable import TallyServer

/// The connection API's bodies read into the service's typed inputs: the first problem is the one named before.
@Suite struct ConnectionRequestTests {
    private func json(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }
    private func invalid(_ field: String, _ reason: String) -> TallyError {
        .invalid([FieldProblem(field: field, reason: reason)])
    }

    @Test func draftDefaults() throws {
        let draft = try ConnectionDraft(body: try json(#"{"provider":"anthropic","api_key":" sk-ant-12345678 "}"#))
        #expect(
            draft
                == ConnectionDraft(
                    provider: .anthropic, name: "anthropic", apiKey: "sk-ant-12345678", adminKey: nil, baseURL: nil,
                    gatewayEndpoints: .inference, validate: true))
    }

    @Test func draftProblemsInTheirOrder() throws {
        #expect(throws: TallyError.invalid([FieldProblem(field: "body", reason: "must be a JSON object")])) {
            try ConnectionDraft(body: .array([]))
        }
        #expect(throws: invalid("key", "unknown field")) {
            try ConnectionDraft(body: try json(#"{"provider":"openai","key":"x"}"#))
        }
        // The provider is read first, then the name, the keys, whether any key is given, the base URL, the endpoints.
        #expect(throws: invalid("provider", "must be openai, anthropic or google")) {
            try ConnectionDraft(body: try json(#"{"provider":"azure","name":5,"api_key":"x"}"#))
        }
        #expect(throws: invalid("name", "must be a string")) {
            try ConnectionDraft(body: try json(#"{"provider":"openai","name":5,"api_key":"x"}"#))
        }
        #expect(throws: invalid("api_key", "must be the provider's key: 8 to 4096 characters, no spaces")) {
            try ConnectionDraft(body: try json(#"{"provider":"openai","api_key":"x","base_url":"ftp://x"}"#))
        }
        #expect(throws: invalid("api_key", "is required (or admin_key)")) {
            try ConnectionDraft(body: try json(#"{"provider":"openai","base_url":"ftp://x"}"#))
        }
        #expect(throws: invalid("admin_key", "google has no admin keys")) {
            try ConnectionDraft(
                body: try json(#"{"provider":"google","admin_key":"AIza12345678","gateway_endpoints":"x"}"#))
        }
        #expect(throws: invalid("validate", "must be true or false")) {
            try ConnectionDraft(body: try json(#"{"provider":"openai","api_key":"sk-12345678","validate":"no"}"#))
        }
    }

    @Test func changesTellAnAbsentBaseURLFromADefaultOne() throws {
        #expect(try ConnectionChanges(body: try json("{}")) == ConnectionChanges())
        #expect(try ConnectionChanges(body: try json(#"{"base_url":null}"#)).baseURL == .some(nil))
        #expect(try ConnectionChanges(body: try json(#"{"base_url":""}"#)).baseURL == .some(nil))
        #expect(
            try ConnectionChanges(body: try json(#"{"base_url":"https://example.com/"}"#)).baseURL
                == .some("https://example.com"))
        #expect(throws: invalid("provider", "unknown field")) {
            try ConnectionChanges(body: try json(#"{"provider":"openai"}"#))
        }
        #expect(throws: invalid("name", "must be 1-80 characters")) {
            try ConnectionChanges(body: try json(#"{"name":"","gateway_endpoints":"x"}"#))
        }
    }
}
