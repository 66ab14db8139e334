/// What a model's answer said, as far as Tally's quality checks read it (`TallySafety.QualityCheck`): its visible text,
/// its refusal and its tool calls, gathered from a whole response or a stream's events by the provider's reader
/// (`ProviderAPI.readAnswer`). Held in memory for the call only: it is stored only when the project captures content.
public struct AnswerText: Sendable, Equatable {
    /// The visible text, in order, at most `limit` bytes of UTF-8 (`textCut` says when more was said).
    public private(set) var text = ""
    /// Whether the text passed `limit` and the rest was not kept.
    public private(set) var textCut = false
    /// The model's own refusal field (OpenAI's `message.refusal`), gathered like the text.
    public var refusal = ""
    /// Each tool or function call's arguments as the model wrote them (JSON text), in call order. A provider that
    /// sends arguments as a parsed object (Gemini's `functionCall.args`) writes them back as JSON text.
    public var toolArguments: [String] = []
    /// How many tool or function calls the answer made.
    public var toolCalls: Int { toolArguments.count }

    /// 1 MiB: more than any check reads, and a bound on what one call holds in memory.
    public static let limit = 1 << 20

    public init(text: String = "", refusal: String = "", toolArguments: [String] = []) {
        self.refusal = refusal
        self.toolArguments = toolArguments
        append(text)
    }

    /// Adds text as it arrives (a stream's deltas), up to `limit`.
    public mutating func append(_ piece: String) {
        guard !textCut, !piece.isEmpty else { return }
        let room = Self.limit - text.utf8.count
        if piece.utf8.count <= room {
            text += piece
        } else {
            // The bytes that fit, less a last scalar cut short (its lead byte announces more bytes than are left):
            // linear in the room, however long the piece.
            var bytes = Array(piece.utf8.prefix(max(0, room)))
            if let lead = bytes.lastIndex(where: { $0 & 0xC0 != 0x80 }) {
                let b = bytes[lead]
                let length = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2
                if lead + length > bytes.count { bytes.removeSubrange(lead...) }
            }
            text += String(decoding: bytes, as: UTF8.self)
            textCut = true
        }
    }

    /// Adds to the arguments of call `index` (a stream sends them in fragments), opening calls up to it.
    public mutating func appendArguments(_ fragment: String, toCall index: Int) {
        guard index >= 0, index < 128 else { return }
        while toolArguments.count <= index { toolArguments.append("") }
        guard toolArguments[index].utf8.count + fragment.utf8.count <= Self.limit else { return }
        toolArguments[index] += fragment
    }

    /// Whether the answer said nothing: no text, no refusal and no tool call.
    public var isEmpty: Bool {
        toolArguments.isEmpty && refusal.isEmpty && text.unicodeScalars.allSatisfy { $0.properties.isWhitespace }
    }
}
