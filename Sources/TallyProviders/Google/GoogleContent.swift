import TallyCore

/// What a Gemini call says: the request's system instruction and contents, the candidates' parts, and the answer read
/// whole or per stream chunk (each chunk is a `GenerateContentResponse` of the same shape).
extension GoogleAPI {
    /// The API reads the snake_case spellings too (`system_instruction`), so a filter reads both.
    func requestTexts(_ json: JSONValue, kind: UsageCapture.Kind) -> [ContentText] {
        var g = TextGatherer()
        switch kind {
        case .geminiGenerate:
            for key in ["systemInstruction", "system_instruction"] {
                g.partTexts(json[key]?["parts"], at: [.key(key), .key("parts")])
            }
            for (content, path) in TextGatherer.items(json["contents"], at: [.key("contents")]) {
                g.partTexts(content["parts"], at: path + [.key("parts")])
            }
        case .geminiEmbed:
            g.partTexts(json["content"]?["parts"], at: [.key("content"), .key("parts")])
            // `:batchEmbedContents`, which shares the kind: one embedContent request per item.
            for (request, path) in TextGatherer.items(json["requests"], at: [.key("requests")]) {
                g.partTexts(request["content"]?["parts"], at: path + [.key("content"), .key("parts")])
            }
        default:
            break
        }
        return g.texts
    }

    /// Every text part, thought summaries included: they reach the client as the answer's other parts do.
    func answerTexts(_ json: JSONValue, kind: UsageCapture.Kind) -> [ContentText] {
        guard kind == .geminiGenerate else { return [] }
        var g = TextGatherer()
        for (candidate, path) in TextGatherer.items(json["candidates"], at: [.key("candidates")]) {
            g.partTexts(candidate["content"]?["parts"], at: path + [.key("content"), .key("parts")])
        }
        return g.texts
    }

    /// `generationConfig.responseMimeType` `application/json`, or a response schema (either spelling of each).
    func expectsJSON(_ json: JSONValue, kind: UsageCapture.Kind) -> Bool {
        guard kind == .geminiGenerate else { return false }
        return [json["generationConfig"], json["generation_config"]].contains { config in
            guard let config else { return false }
            let mime = config["responseMimeType"] ?? config["response_mime_type"]
            if case .string(let m)? = mime, m.lowercased() == "application/json" { return true }
            return ["responseSchema", "response_schema", "responseJsonSchema", "response_json_schema"].contains {
                config[$0] != nil && config[$0] != .null
            }
        }
    }

    /// The first candidate's parts: text, except thoughts (`"thought": true`, a summary of the model's reasoning,
    /// not its answer), and each `functionCall`'s `args` written back as JSON text. A stream's chunk carries whole
    /// parts, so each call in it is a new one.
    func readAnswer(_ v: JSONValue, kind: UsageCapture.Kind, into answer: inout AnswerText, carried: inout JSONValue) {
        guard kind == .geminiGenerate else { return }
        // With `candidateCount` > 1 each candidate says its `index`.
        let candidates = v["candidates"].arrayItems
        guard let candidate = candidates.first(where: { $0["index"] == nil || Self.tokenCount($0["index"]) == 0 })
        else { return }
        for part in (candidate["content"]?["parts"]).arrayItems where part["thought"] != .bool(true) {
            answer.appendText(part["text"].textOrEmpty)
            if case .object = part["functionCall"] {
                let args = part["functionCall"]?["args"] ?? .object([])
                answer.appendArguments(JSONWriter.encode(args), toCall: answer.toolCalls)
            }
        }
    }
}
