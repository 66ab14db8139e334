import TallyCore

/// What an Anthropic call says: the request's system prompt and messages, the answer's content blocks, and the
/// answer read as it streams.
extension AnthropicAPI {
    func requestTexts(_ json: JSONValue, kind: UsageCapture.Kind) -> [ContentText] {
        guard kind == .anthropicMessages else { return [] }
        var g = TextGatherer()
        g.content(json["system"], at: [.key("system")], types: ["text"])
        for (message, path) in TextGatherer.items(json["messages"], at: [.key("messages")]) {
            let content = message["content"], contentPath = path + [.key("content")]
            g.string(content, at: contentPath)
            for (block, blockPath) in TextGatherer.items(content, at: contentPath) {
                switch block["type"] {
                case .string("text"): g.string(block["text"], at: blockPath + [.key("text")])
                // A tool's result goes back to the model as text too: a string, or text blocks.
                case .string("tool_result"):
                    g.content(block["content"], at: blockPath + [.key("content")], types: ["text"])
                default: break
                }
            }
        }
        return g.texts
    }

    func answerTexts(_ json: JSONValue, kind: UsageCapture.Kind) -> [ContentText] {
        guard kind == .anthropicMessages else { return [] }
        var g = TextGatherer()
        g.content(json["content"], at: [.key("content")], types: ["text"])
        return g.texts
    }

    /// Structured outputs (`output_format` / `output_config.format`) are not in the provider reference Tally is
    /// written against, so no Anthropic request is held to a JSON answer.
    func expectsJSON(_ json: JSONValue, kind: UsageCapture.Kind) -> Bool { false }

    /// A whole message's `content`, or a stream's content block events. `carried` holds each `tool_use` block's call
    /// number by its block index (`noteCall`): its `input_json_delta` fragments say only the block.
    func readAnswer(_ v: JSONValue, kind: UsageCapture.Kind, into answer: inout AnswerText, carried: inout JSONValue) {
        guard kind == .anthropicMessages else { return }
        switch v["type"] {
        case .string("message"):
            for block in v["content"].arrayItems {
                switch block["type"] {
                case .string("text"): answer.appendText(block["text"].textOrEmpty)
                case .string("tool_use"):
                    answer.appendArguments(JSONWriter.encode(block["input"] ?? .object([])), toCall: answer.toolCalls)
                default: break
                }
            }
        case .string("content_block_start"):
            let block = v["content_block"] ?? .null
            switch block["type"] {
            case .string("text"): answer.appendText(block["text"].textOrEmpty)
            case .string("tool_use"):
                // The start's `input` is `{}`, the arguments following as JSON fragments; one that already holds
                // them is kept.
                let call = answer.toolCalls
                let input = block["input"] ?? .object([])
                answer.appendArguments(input == .object([]) ? "" : JSONWriter.encode(input), toCall: call)
                carried.noteCall(call, forBlock: v["index"])
            default: break
            }
        case .string("content_block_delta"):
            let delta = v["delta"] ?? .null
            switch delta["type"] {
            case .string("text_delta"): answer.appendText(delta["text"].textOrEmpty)
            case .string("input_json_delta"):
                guard let call = carried.call(forBlock: v["index"]) else { return }
                answer.appendArguments(delta["partial_json"].textOrEmpty, toCall: call)
            default: break
            }
        case .string("content_block_stop"):
            // A tool called without arguments streams none: its input is the empty object, as a whole answer says.
            if let call = carried.call(forBlock: v["index"]), call < answer.toolCalls,
                answer.toolArguments[call].isEmpty
            {
                answer.appendArguments("{}", toCall: call)
            }
        default:
            break
        }
    }

}
