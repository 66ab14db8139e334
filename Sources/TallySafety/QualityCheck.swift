import TallyCore

/// Quality flags computed on an answer (never stored: only their names are).
public enum QualityFlag: String, CaseIterable, Sendable {
    case empty, truncated, refusal, invalidJSON = "invalid_json", repetition
}

public enum QualityCheck {
    /// The answer's quality flags, in the enum's order.
    /// - answer: the answer as read (text, refusal field, tool-call arguments).
    /// - finishReason: as the provider wrote it (OpenAI, Anthropic, Gemini, OpenAI Responses), any case.
    /// - expectsJSON: the request asked for JSON (JSON mode or a schema); then a text that does not parse as JSON is
    ///   `invalid_json`. The text must be bare JSON: JSON mode never fences it, so a "```json" fenced answer counts as
    ///   invalid. Tool-call arguments that do not parse are `invalid_json` always.
    public static func flags(_ answer: AnswerText, finishReason: String?, expectsJSON: Bool) -> [QualityFlag] {
        let reason = finishReason?.lowercased() ?? ""
        var flags: [QualityFlag] = []
        if answer.isEmpty { flags.append(.empty) }
        if truncatingReasons.contains(reason) { flags.append(.truncated) }
        if !answer.refusal.isEmpty || refusingReasons.contains(reason) || RefusalOpenings.opens(answer.text) {
            flags.append(.refusal)
        }
        if hasInvalidJSON(answer, expectsJSON: expectsJSON) { flags.append(.invalidJSON) }
        if RepetitionCheck.repeats(answer.text) { flags.append(.repetition) }
        return flags
    }

    /// Finish reasons (lowercased) meaning the answer hit its token limit.
    static let truncatingReasons: Set<String> = ["length", "max_tokens", "max_output_tokens"]
    /// Finish reasons (lowercased) meaning the provider or model declined.
    static let refusingReasons: Set<String> = [
        "refusal", "content_filter", "safety", "prohibited_content", "blocklist", "spii",
    ]

    private static func hasInvalidJSON(_ answer: AnswerText, expectsJSON: Bool) -> Bool {
        if answer.toolArguments.contains(where: { !parses($0) }) { return true }
        // A text cut at the size limit cannot be judged whole; an empty text is already `empty`.
        guard expectsJSON, !answer.textCut, !answer.text.isEmpty else { return false }
        return !parses(answer.text)
    }

    private static func parses(_ text: String) -> Bool {
        (try? JSONParser.parse(Array(text.utf8))) != nil
    }
}
