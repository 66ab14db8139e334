import TallyCore
import Testing

@testable import TallyProviders

/// A path written `messages.0.content`: numbers are array indexes, anything else a key.
func path(_ dotted: String) -> [ContentText.Step] {
    dotted.split(separator: ".").map { Int($0).map(ContentText.Step.index) ?? .key(String($0)) }
}

func parse(_ text: String) -> JSONValue { try! JSONParser.parse(Array(text.utf8)) }

/// Each text as `path=text`, so one expectation shows both.
func listed(_ texts: [ContentText]) -> [String] {
    texts.map { t in
        t.path.map { step in
            switch step {
            case .key(let k): k
            case .index(let i): String(i)
            }
        }.joined(separator: ".") + "=" + t.text
    }
}

/// The texts a safety filter reads in a request, in each provider's documented shapes, and hostile ones.
@Suite struct ContentTextTests {
    let openAI = ProviderKind.openai.api, anthropic = ProviderKind.anthropic.api, google = ProviderKind.google.api

    @Test func openAIChatReadsEveryRolesContentAndTextParts() {
        let body = parse(
            """
            {"model":"gpt-4o","messages":[
              {"role":"system","content":"Be brief."},
              {"role":"developer","content":[{"type":"text","text":"No emoji."}]},
              {"role":"user","content":[{"type":"text","text":"What is"},{"type":"image_url","image_url":{"url":"https://x/y.png"}},{"type":"text","text":"this?"}]},
              {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"c1","content":"42"}
            ]}
            """)
        #expect(
            listed(openAI.requestTexts(body, kind: .openAIChat)) == [
                "messages.0.content=Be brief.", "messages.1.content.0.text=No emoji.",
                "messages.2.content.0.text=What is", "messages.2.content.2.text=this?", "messages.4.content=42",
            ])
        #expect(openAI.requestTexts(body, kind: .openAIEmbeddings).isEmpty, "embeddings read `input`, not messages")
        #expect(openAI.requestTexts(body, kind: .other).isEmpty)
        #expect(anthropic.requestTexts(body, kind: .openAIChat).isEmpty, "each provider reads only its own kinds")
    }

    @Test func openAIResponsesReadsInstructionsAndInput() {
        let plain = parse(#"{"model":"gpt-4.1","instructions":"Talk like a pirate.","input":"Hello"}"#)
        #expect(
            listed(openAI.requestTexts(plain, kind: .openAIResponses)) == [
                "instructions=Talk like a pirate.", "input=Hello",
            ])
        let items = parse(
            """
            {"model":"gpt-4.1","input":[
              {"role":"user","content":"Hi"},
              {"type":"message","role":"user","content":[{"type":"input_text","text":"Look:"},{"type":"input_image","image_url":"https://x/y.png"}]},
              {"type":"message","role":"assistant","content":[{"type":"output_text","text":"A cat."}]},
              {"type":"function_call_output","call_id":"c1","output":"sunny"},
              "stray string item"
            ]}
            """)
        #expect(
            listed(openAI.requestTexts(items, kind: .openAIResponses)) == [
                "input.0.content=Hi", "input.1.content.0.text=Look:", "input.2.content.0.text=A cat.",
            ])
    }

    @Test func completionsPromptAndEmbeddingsInputAreAStringOrStrings() {
        #expect(listed(openAI.requestTexts(parse(#"{"prompt":"Once"}"#), kind: .openAICompletions)) == ["prompt=Once"])
        #expect(
            listed(openAI.requestTexts(parse(#"{"prompt":["a",7,"b",null]}"#), kind: .openAICompletions)) == [
                "prompt.0=a", "prompt.2=b",
            ])
        // Token arrays are not text.
        #expect(openAI.requestTexts(parse(#"{"prompt":[[1,2],[3]]}"#), kind: .openAICompletions).isEmpty)
        #expect(listed(openAI.requestTexts(parse(#"{"input":"x"}"#), kind: .openAIEmbeddings)) == ["input=x"])
        #expect(
            listed(openAI.requestTexts(parse(#"{"input":["x","y"]}"#), kind: .openAIEmbeddings)) == [
                "input.0=x", "input.1=y",
            ])
        #expect(openAI.requestTexts(parse(#"{"input":[101,102]}"#), kind: .openAIEmbeddings).isEmpty)
    }

    @Test func anthropicReadsSystemMessagesAndToolResultsInOrder() {
        let body = parse(
            """
            {"model":"claude-sonnet-4-5","max_tokens":100,"system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}],
             "messages":[
              {"role":"user","content":"Weather?"},
              {"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"t1","name":"w","input":{"city":"Oslo"}}]},
              {"role":"user","content":[
                {"type":"tool_result","tool_use_id":"t1","content":"rain"},
                {"type":"tool_result","tool_use_id":"t2","content":[{"type":"text","text":"5 C"},{"type":"image","source":{}}]},
                {"type":"text","text":"And tomorrow?"}]}
            ]}
            """)
        #expect(
            listed(anthropic.requestTexts(body, kind: .anthropicMessages)) == [
                "system.0.text=You are terse.", "messages.0.content=Weather?", "messages.1.content.0.text=Checking.",
                "messages.2.content.0.content=rain", "messages.2.content.1.content.0.text=5 C",
                "messages.2.content.2.text=And tomorrow?",
            ])
        #expect(
            listed(anthropic.requestTexts(parse(#"{"system":"Be kind.","messages":[]}"#), kind: .anthropicMessages))
                == ["system=Be kind."])
    }

    @Test func geminiReadsSystemInstructionContentsAndEmbeddings() {
        let body = parse(
            """
            {"systemInstruction":{"parts":[{"text":"Answer in French."}]},
             "system_instruction":{"parts":[{"text":"snake too"}]},
             "contents":[
              {"role":"user","parts":[{"text":"Hello"},{"inlineData":{"mimeType":"image/png","data":"AA=="}}]},
              {"role":"model","parts":[{"functionCall":{"name":"f","args":{}}},{"text":"Bonjour","thought":true}]}
            ],"generationConfig":{"temperature":0.2}}
            """)
        #expect(
            listed(google.requestTexts(body, kind: .geminiGenerate)) == [
                "systemInstruction.parts.0.text=Answer in French.", "system_instruction.parts.0.text=snake too",
                "contents.0.parts.0.text=Hello", "contents.1.parts.1.text=Bonjour",
            ])
        #expect(
            listed(google.requestTexts(parse(#"{"content":{"parts":[{"text":"embed me"}]}}"#), kind: .geminiEmbed))
                == ["content.parts.0.text=embed me"])
        let batch = parse(#"{"requests":[{"content":{"parts":[{"text":"a"}]}},{"content":{"parts":[{"text":"b"}]}}]}"#)
        #expect(
            listed(google.requestTexts(batch, kind: .geminiEmbed)) == [
                "requests.0.content.parts.0.text=a", "requests.1.content.parts.0.text=b",
            ])
    }

    /// Shapes no provider accepts: skipped, never a crash, and the texts around them still read.
    @Test func hostileShapesAreSkipped() {
        let chat = parse(
            """
            {"messages":[{"role":"user","content":42},{"content":[1,"x",null,[{"type":"text","text":"deep"}],{"type":"text","text":7},{"type":"text","text":"ok"}]},"not a message",null,{"content":{"type":"text","text":"object"}}]}
            """)
        #expect(listed(openAI.requestTexts(chat, kind: .openAIChat)) == ["messages.1.content.5.text=ok"])
        #expect(openAI.requestTexts(parse(#"{"messages":"hi"}"#), kind: .openAIChat).isEmpty)
        #expect(openAI.requestTexts(parse("[1,2]"), kind: .openAIChat).isEmpty)
        #expect(
            anthropic.requestTexts(
                parse(#"{"system":5,"messages":[{"content":[{"type":"tool_result","content":9}]}]}"#),
                kind: .anthropicMessages
            ).isEmpty)
        #expect(
            google.requestTexts(
                parse(#"{"contents":[{"parts":"text"},{"parts":[{"text":["a"]}]}]}"#), kind: .geminiGenerate
            ).isEmpty)
        // Arrays nested as deep as the parser allows, where messages should be.
        let deep = String(repeating: "[", count: 62) + #""x""# + String(repeating: "]", count: 62)
        let nested = parse(#"{"messages":"# + deep + #","input":"# + deep + "}")
        #expect(openAI.requestTexts(nested, kind: .openAIChat).isEmpty)
        #expect(openAI.requestTexts(nested, kind: .openAIResponses).isEmpty)
        #expect(nested.replacingTexts([ContentText(path: path("messages.0.0.0"), text: "y")]) == nested)
    }

    @Test func tenThousandMessagesAreReadAndRewrittenInOneWalk() {
        let messages = (0..<10_000).map {
            JSONValue.object([("role", .string("user")), ("content", .string("m\($0)"))])
        }
        let body = JSONValue.object([("model", .string("gpt-4o")), ("messages", .array(messages))])
        let texts = openAI.requestTexts(body, kind: .openAIChat)
        #expect(texts.count == 10_000)
        #expect(texts.last == ContentText(path: path("messages.9999.content"), text: "m9999"))
        let redacted = body.replacingTexts(texts.map { ContentText(path: $0.path, text: "[\($0.text)]") })
        let back = openAI.requestTexts(redacted, kind: .openAIChat)
        #expect(back.count == 10_000 && back[0].text == "[m0]" && back[9_999].text == "[m9999]")
        #expect(redacted["model"] == .string("gpt-4o"))
    }

    // MARK: Writing redacted texts back

    @Test func redactedChatRoundTripsWithEverythingElseAsItWas() throws {
        let original = """
            {"model":"gpt-4o","temperature":0.7,"messages":[{"role":"system","content":"Call me at 555-0100."},{"role":"user","content":[{"type":"text","text":"My SSN is 078-05-1120"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}],"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}],"stream":true}
            """
        let body = parse(original)
        let texts = openAI.requestTexts(body, kind: .openAIChat)
        let redacted = body.replacingTexts(texts.map { ContentText(path: $0.path, text: "[REDACTED]") })
        let encoded = JSONWriter.encode(redacted)
        #expect(
            encoded
                == original.replacing("Call me at 555-0100.", with: "[REDACTED]").replacing(
                    "My SSN is 078-05-1120", with: "[REDACTED]"))
        let back = try JSONParser.parse(Array(encoded.utf8))
        guard case .object(let members) = back else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.0) == ["model", "temperature", "messages", "tools", "stream"])
        #expect(
            back["temperature"] == .number("0.7") && back["tools"] == body["tools"] && back["model"] == body["model"])
        #expect(listed(openAI.requestTexts(back, kind: .openAIChat)).allSatisfy { $0.hasSuffix("=[REDACTED]") })
    }

    @Test(arguments: [
        (
            ProviderKind.anthropic, UsageCapture.Kind.anthropicMessages,
            #"{"model":"claude","max_tokens":50,"system":"secret sys","messages":[{"role":"user","content":[{"type":"text","text":"secret a"},{"type":"tool_result","tool_use_id":"t","content":"secret b"}]}],"tools":[{"name":"t","input_schema":{}}]}"#
        ),
        (
            ProviderKind.google, UsageCapture.Kind.geminiGenerate,
            #"{"contents":[{"role":"user","parts":[{"text":"secret a"},{"text":"secret b"}]}],"systemInstruction":{"parts":[{"text":"secret sys"}]},"tools":[{"functionDeclarations":[]}],"generationConfig":{"temperature":1}}"#
        ),
        (
            ProviderKind.openai, UsageCapture.Kind.openAIResponses,
            #"{"model":"gpt-4.1","instructions":"secret sys","input":[{"role":"user","content":"secret a"},{"role":"user","content":[{"type":"input_text","text":"secret b"}]}],"tools":[],"temperature":0}"#
        ),
    ])
    func redactedBodiesDifferOnlyInTheirTexts(provider: ProviderKind, kind: UsageCapture.Kind, original: String) {
        let api = provider.api
        let body = parse(original)
        let texts = api.requestTexts(body, kind: kind)
        #expect(Set(texts.map(\.text)) == ["secret sys", "secret a", "secret b"])
        let redacted = body.replacingTexts(texts.map { ContentText(path: $0.path, text: $0.text.uppercased()) })
        let expected = original.replacing("secret sys", with: "SECRET SYS").replacing("secret a", with: "SECRET A")
            .replacing("secret b", with: "SECRET B")
        #expect(JSONWriter.encode(redacted) == expected)
    }

    @Test func aPathThatLeadsToNoStringLeavesTheBodyAlone() {
        let body = parse(#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"n":1}"#)
        for dead in [
            "messages.0.content",  // an array now
            "messages.0.content.0.text.more",  // past the string
            "messages.5.content",  // no such message
            "messages.-1.content", "model.0", "nothing", "n",  // a number
        ] {
            #expect(body.replacingTexts([ContentText(path: path(dead), text: "X")]) == body, "\(dead)")
        }
        #expect(body.replacingTexts([ContentText(path: [], text: "X")]) == body, "the body is an object")
        #expect(JSONValue.string("a").replacingTexts([ContentText(path: [], text: "b")]) == .string("b"))
        // A live path among dead ones is still written.
        let mixed = body.replacingTexts([
            ContentText(path: path("messages.0.content"), text: "X"),
            ContentText(path: path("messages.0.content.0.text"), text: "bye"),
        ])
        #expect(mixed["messages"].arrayItems.first?["content"] == parse(#"[{"type":"text","text":"bye"}]"#))
        // A repeated key: only the first member, the one every reader takes, is written.
        let twice = parse(#"{"input":"a","input":"b"}"#)
        #expect(
            JSONWriter.encode(twice.replacingTexts([ContentText(path: path("input"), text: "c")]))
                == #"{"input":"c","input":"b"}"#)
    }

    // MARK: Answers and JSON mode

    @Test func answerTextsPerProvider() {
        let chat = parse(
            #"{"choices":[{"index":0,"message":{"role":"assistant","content":"Hi","refusal":null}},{"index":1,"message":{"content":null,"refusal":"No."}}]}"#
        )
        #expect(
            listed(openAI.answerTexts(chat, kind: .openAIChat)) == [
                "choices.0.message.content=Hi", "choices.1.message.refusal=No.",
            ])
        let responses = parse(
            #"{"object":"response","output":[{"type":"reasoning","summary":[]},{"type":"message","content":[{"type":"output_text","text":"A","annotations":[]},{"type":"refusal","refusal":"R"}]},{"type":"function_call","arguments":"{}"}]}"#
        )
        #expect(
            listed(openAI.answerTexts(responses, kind: .openAIResponses)) == [
                "output.1.content.0.text=A", "output.1.content.1.refusal=R",
            ])
        #expect(
            listed(openAI.answerTexts(parse(#"{"choices":[{"text":"t0"},{"text":"t1"}]}"#), kind: .openAICompletions))
                == ["choices.0.text=t0", "choices.1.text=t1"])
        #expect(
            openAI.answerTexts(parse(#"{"data":[{"embedding":[0.1]}],"model":"e"}"#), kind: .openAIEmbeddings).isEmpty)
        let message = parse(
            #"{"type":"message","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"Yes"},{"type":"tool_use","input":{}}]}"#
        )
        #expect(listed(anthropic.answerTexts(message, kind: .anthropicMessages)) == ["content.1.text=Yes"])
        let gemini = parse(
            #"{"candidates":[{"content":{"parts":[{"text":"why","thought":true},{"text":"So."}]}},{"content":{"parts":[{"text":"Other"}]}}]}"#
        )
        #expect(
            listed(google.answerTexts(gemini, kind: .geminiGenerate)) == [
                "candidates.0.content.parts.0.text=why", "candidates.0.content.parts.1.text=So.",
                "candidates.1.content.parts.0.text=Other",
            ])
    }

    @Test func expectsJSONPerProvider() {
        #expect(openAI.expectsJSON(parse(#"{"response_format":{"type":"json_object"}}"#), kind: .openAIChat))
        #expect(
            openAI.expectsJSON(
                parse(#"{"response_format":{"type":"json_schema","json_schema":{}}}"#), kind: .openAIChat))
        #expect(!openAI.expectsJSON(parse(#"{"response_format":{"type":"text"}}"#), kind: .openAIChat))
        #expect(!openAI.expectsJSON(parse(#"{"model":"gpt-4o"}"#), kind: .openAIChat))
        #expect(
            openAI.expectsJSON(
                parse(#"{"text":{"format":{"type":"json_schema","name":"x","schema":{}}}}"#), kind: .openAIResponses))
        #expect(openAI.expectsJSON(parse(#"{"text":{"format":{"type":"json_object"}}}"#), kind: .openAIResponses))
        #expect(!openAI.expectsJSON(parse(#"{"text":{"format":{"type":"text"}}}"#), kind: .openAIResponses))
        #expect(
            !openAI.expectsJSON(parse(#"{"response_format":{"type":"json_object"}}"#), kind: .openAIResponses),
            "chat's field")
        #expect(!openAI.expectsJSON(parse(#"{"response_format":{"type":"json_object"}}"#), kind: .openAICompletions))
        #expect(
            google.expectsJSON(
                parse(#"{"generationConfig":{"responseMimeType":"application/json"}}"#), kind: .geminiGenerate))
        #expect(
            google.expectsJSON(
                parse(#"{"generation_config":{"response_mime_type":"application/json"}}"#), kind: .geminiGenerate))
        #expect(
            google.expectsJSON(
                parse(#"{"generationConfig":{"responseSchema":{"type":"OBJECT"}}}"#), kind: .geminiGenerate))
        #expect(
            google.expectsJSON(
                parse(#"{"generationConfig":{"responseJsonSchema":{"type":"object"}}}"#), kind: .geminiGenerate))
        #expect(
            !google.expectsJSON(
                parse(#"{"generationConfig":{"responseMimeType":"text/plain"}}"#), kind: .geminiGenerate))
        #expect(!google.expectsJSON(parse(#"{"generationConfig":{"responseSchema":null}}"#), kind: .geminiGenerate))
        #expect(!google.expectsJSON(parse(#"{"contents":[]}"#), kind: .geminiGenerate))
        #expect(
            !anthropic.expectsJSON(
                parse(#"{"output_format":{"type":"json_schema","schema":{}}}"#), kind: .anthropicMessages))
        #expect(!anthropic.expectsJSON(parse(#"{"messages":[]}"#), kind: .anthropicMessages))
    }
}
