import TallyCore

/// The Responses API's answer: a whole response's `output`, or a stream's delta events.
extension OpenAIAPI {
    /// `carried` holds `streamed` (a delta was read, so the terminal event's `output` repeats what was read) and
    /// each function call's number by its output index (`noteCall`).
    func readResponses(_ v: JSONValue, into answer: inout AnswerText, carried: inout JSONValue) {
        guard case .string(let type)? = v["type"] else {
            Self.readOutput(v["output"], into: &answer)  // a whole response: no event type
            return
        }
        switch type {
        case "response.output_text.delta":
            answer.appendText(v["delta"].textOrEmpty)
        case "response.refusal.delta":
            answer.appendRefusal(v["delta"].textOrEmpty)
        case "response.output_item.added":
            guard let item = v["item"], Self.isCall(item) else { return }
            let call = answer.toolCalls
            answer.appendArguments((item["arguments"] ?? item["input"]).textOrEmpty, toCall: call)
            carried.noteCall(call, forBlock: v["output_index"])
        case "response.function_call_arguments.delta", "response.custom_tool_call_input.delta":
            let call = carried.call(forBlock: v["output_index"]) ?? answer.toolCalls
            answer.appendArguments(v["delta"].textOrEmpty, toCall: call)
            carried.noteCall(call, forBlock: v["output_index"])
        case "response.function_call_arguments.done":
            // The whole arguments again: kept only when no fragment came before them.
            let call = carried.call(forBlock: v["output_index"]) ?? answer.toolCalls
            if call >= answer.toolCalls || answer.toolArguments[call].isEmpty {
                answer.appendArguments(v["arguments"].textOrEmpty, toCall: call)
            }
            carried.noteCall(call, forBlock: v["output_index"])
        case "response.completed", "response.incomplete", "response.failed":
            if carried["streamed"] != .bool(true) { Self.readOutput(v["response"]?["output"], into: &answer) }
        default:
            return
        }
        if carried["streamed"] == nil { carried.setMember("streamed", .bool(true)) }
    }

    /// A whole response's output items: messages' `output_text` and `refusal` parts, and function calls in order.
    static func readOutput(_ output: JSONValue?, into answer: inout AnswerText) {
        for item in output.arrayItems {
            if isCall(item) {
                answer.appendArguments((item["arguments"] ?? item["input"]).textOrEmpty, toCall: answer.toolCalls)
                continue
            }
            for part in item["content"].arrayItems {
                switch part["type"] {
                case .string("output_text"): answer.appendText(part["text"].textOrEmpty)
                case .string("refusal"): answer.appendRefusal(part["refusal"].textOrEmpty)
                default: break
                }
            }
        }
    }

    static func isCall(_ item: JSONValue) -> Bool {
        item["type"] == .string("function_call") || item["type"] == .string("custom_tool_call")
    }
}
