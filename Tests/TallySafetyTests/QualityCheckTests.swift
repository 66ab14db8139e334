import TallyCore
import TallySafety
import Testing

@Suite struct QualityCheckTests {
    static func flags(
        _ text: String = "", refusal: String = "", tools: [String] = [], finish: String? = "stop", json: Bool = false
    ) -> [QualityFlag] {
        QualityCheck.flags(
            AnswerText(text: text, refusal: refusal, toolArguments: tools), finishReason: finish, expectsJSON: json)
    }

    @Test func empty() {
        #expect(Self.flags("  \n") == [.empty])
        #expect(Self.flags("", finish: "length") == [.empty, .truncated])
        #expect(Self.flags("Hello.") == [])
        #expect(Self.flags("", tools: ["{}"]) == [])
    }

    @Test func truncated() {
        for reason in ["length", "max_tokens", "MAX_TOKENS", "max_output_tokens"] {
            #expect(Self.flags("Partial answ", finish: reason) == [.truncated], "\(reason)")
        }
        for reason in ["stop", "end_turn", "STOP", "tool_calls", nil] {
            #expect(Self.flags("Done.", finish: reason) == [], "\(reason ?? "nil")")
        }
    }

    @Test func refusalFromFieldOrFinishReason() {
        #expect(Self.flags(refusal: "I can't help with that.") == [.refusal])
        for reason in ["content_filter", "refusal", "SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"] {
            #expect(Self.flags("x", finish: reason) == [.refusal], "\(reason)")
        }
        #expect(Self.flags("x", finish: "RECITATION") == [])
    }

    @Test func refusalFromTheOpening() {
        #expect(Self.flags("I'm sorry, but I can't help with that request.") == [.refusal])
        #expect(Self.flags("  \nI’m sorry, I can’t do that.") == [.refusal])  // curly apostrophes
        #expect(Self.flags("As an AI language model, I cannot browse.") == [.refusal])
        #expect(Self.flags("I must decline to answer.") == [.refusal])
    }

    @Test func notARefusal() {
        #expect(Self.flags("I'm sorry for the delay, here is the report.") == [])
        #expect(Self.flags("Here is the code. I can't help noticing a bug in line 3.") == [])
        #expect(Self.flags("Sorry to hear that! Try restarting.") == [])
    }

    @Test func invalidJSON() {
        #expect(Self.flags("{\"a\": 1}", json: true) == [])
        #expect(Self.flags("{\"a\": 1", json: true) == [.invalidJSON])
        #expect(Self.flags("```json\n{\"a\": 1}\n```", json: true) == [.invalidJSON])
        #expect(Self.flags("{\"a\": 1", json: false) == [])
        #expect(Self.flags("", tools: ["{\"city\": \"Paris\"}"]) == [])
        #expect(Self.flags("", tools: ["{\"city\": \"Par"]) == [.invalidJSON])
        #expect(Self.flags("fine", tools: ["{}", "nope"]) == [.invalidJSON])
    }

    @Test func repetition() {
        #expect(Self.flags(String(repeating: "the ", count: 40)) == [.repetition])
        #expect(Self.flags(String(repeating: "the ", count: 39)) == [])
        let sentence = "This is the answer you asked for, in ten words. "
        #expect(Self.flags(String(repeating: sentence, count: 4)) == [.repetition])
        #expect(Self.flags(String(repeating: sentence, count: 3)) == [])  // 30 words: too short a run
    }

    @Test func noRepetitionInOrdinaryText() {
        let prose = """
            The gateway forwards each request to the provider, records the tokens it used, and prices them with \
            the catalog in force that day. Reports group the costs by project, key and model, so a team can see \
            where its budget went and which models gave the best value for the work they did last month.
            """
        #expect(Self.flags(prose) == [])
        let list = (1...60).map { "- item \($0): ok" }.joined(separator: "\n")
        #expect(Self.flags(list) == [])
        let code = (1...40).map { "let value\($0) = compute(input: \($0))" }.joined(separator: "\n")
        #expect(Self.flags(code) == [])
    }

    @Test func flagNames() {
        #expect(
            QualityFlag.allCases.map(\.rawValue) == ["empty", "truncated", "refusal", "invalid_json", "repetition"])
    }
}
