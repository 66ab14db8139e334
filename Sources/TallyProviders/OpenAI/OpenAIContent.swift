import TallyCore

/// What an OpenAI call says: the request's messages, the answer's text, and the answer read as it streams.
extension OpenAIAPI {
    func requestTexts(_ json: JSONValue, kind: UsageCapture.Kind) -> [ContentText] {
        var g = TextGatherer()
        switch kind {
        case .openAIChat:
            // Every role: a system or developer message steers the model as much as a user's.
            for (message, path) in TextGatherer.items(json["messages"], at: [.key("messages")]) {
                g.content(message["content"], at: path + [.key("content")], types: ["text"])
            }
        case .openAIResponses:
            g.string(json["instructions"], at: [.key("instructions")])
            g.string(json["input"], at: [.key("input")])
            for (item, path) in TextGatherer.items(json["input"], at: [.key("input")]) {
                // Earlier assistant turns come back as `output_text` parts.
                g.content(item["content"], at: path + [.key("content")], types: ["input_text", "output_text"])
            }
        case .openAICompletions:
            g.strings(json["prompt"], at: [.key("prompt")])
        case .openAIEmbeddings:
            g.strings(json["input"], at: [.key("input")])
        default:
            break
        }
        return g.texts
    }

    func answerTexts(_ json: JSONValue, kind: UsageCapture.Kind) -> [ContentText] {
        var g = TextGatherer()
        switch kind {
        case .openAIChat:
            for (choice, path) in TextGatherer.items(json["choices"], at: [.key("choices")]) {
                g.content(
                    choice["message"]?["content"], at: path + [.key("message"), .key("content")], types: ["text"])
                g.string(choice["message"]?["refusal"], at: path + [.key("message"), .key("refusal")])
            }
        case .openAIResponses:
            for (item, path) in TextGatherer.items(json["output"], at: [.key("output")]) {
                for (part, partPath) in TextGatherer.items(item["content"], at: path + [.key("content")]) {
                    switch part["type"] {
                    case .string("output_text"): g.string(part["text"], at: partPath + [.key("text")])
                    case .string("refusal"): g.string(part["refusal"], at: partPath + [.key("refusal")])
                    default: break
                    }
                }
            }
        case .openAICompletions:
            for (choice, path) in TextGatherer.items(json["choices"], at: [.key("choices")]) {
                g.string(choice["text"], at: path + [.key("text")])
            }
        default:
            break
        }
        return g.texts
    }

    /// Chat's `response_format.type`, the Responses API's `text.format.type`: `json_object` or `json_schema`.
    func expectsJSON(_ json: JSONValue, kind: UsageCapture.Kind) -> Bool {
        let type: JSONValue? =
            switch kind {
            case .openAIChat: json["response_format"]?["type"]
            case .openAIResponses: json["text"]?["format"]?["type"]
            default: nil
            }
        return type == .string("json_object") || type == .string("json_schema")
    }

    func readAnswer(_ v: JSONValue, kind: UsageCapture.Kind, into answer: inout AnswerText, carried: inout JSONValue) {
        switch kind {
        case .openAIChat:
            // A whole answer's `message`, or a chunk's `delta`: the same fields, the chunk's in fragments.
            guard let choice = Self.firstChoice(v), let said = choice["message"] ?? choice["delta"] else { return }
            if case .string(let text)? = said["content"] { answer.appendText(text) }
            if case .string(let refusal)? = said["refusal"] { answer.appendRefusal(refusal) }
            for (n, call) in said["tool_calls"].arrayItems.enumerated() {
                // A chunk names the call its fragment belongs to; a whole answer lists its calls in order.
                let index = call["index"].map { Self.tokenCount($0) ?? -1 } ?? n
                let function = call["function"] ?? call["custom"]
                answer.appendArguments((function?["arguments"] ?? function?["input"]).textOrEmpty, toCall: index)
            }
            // The deprecated single `function_call`.
            if let function = said["function_call"], case .object = function {
                answer.appendArguments(function["arguments"].textOrEmpty, toCall: 0)
            }
        case .openAICompletions:
            if case .string(let text)? = Self.firstChoice(v)?["text"] { answer.appendText(text) }
        case .openAIResponses:
            readResponses(v, into: &answer, carried: &carried)
        default:
            break
        }
    }

    /// The first answer: with `n` > 1 a stream's chunks each carry one choice, its `index` saying which.
    static func firstChoice(_ v: JSONValue) -> JSONValue? {
        v["choices"].arrayItems.first { $0["index"] == nil || tokenCount($0["index"]) == 0 }
    }
}
