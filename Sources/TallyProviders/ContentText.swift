import TallyCore

/// One piece of text in a JSON body, and where it is, so a filter can read it and the gateway can write a redacted
/// version back.
package struct ContentText: Sendable, Equatable {
    package enum Step: Sendable, Equatable, Hashable { case key(String), index(Int) }
    package var path: [Step]
    package var text: String

    package init(path: [Step], text: String) {
        self.path = path
        self.text = text
    }
}

extension JSONValue {
    /// This value with the strings at each text's path replaced by the text (paths that do not lead to a string are
    /// left alone). Key order and every other member are kept, so the body re-serialized with `JSONWriter.encode`
    /// differs only there.
    package func replacingTexts(_ texts: [ContentText]) -> JSONValue {
        texts.isEmpty ? self : replacing(texts.map { ($0.path[...], $0.text) })
    }

    /// One walk for all the texts: each level is rebuilt once, however many texts lie under it (replacing them one
    /// at a time would copy a 10 000-message array once per message).
    private func replacing(_ texts: [(path: ArraySlice<ContentText.Step>, text: String)]) -> JSONValue {
        switch self {
        case .string:
            // The last text aimed here wins; a text whose path goes on past a string leads nowhere.
            return texts.last { $0.path.isEmpty }.map { .string($0.text) } ?? self
        case .object(var members):
            var byKey: [String: [(path: ArraySlice<ContentText.Step>, text: String)]] = [:]
            for t in texts {
                if case .key(let k)? = t.path.first { byKey[k, default: []].append((t.path.dropFirst(), t.text)) }
            }
            // A repeated key: only its first member, the one `subscript` (and so `requestTexts`) reads.
            for i in members.indices {
                guard let under = byKey.removeValue(forKey: members[i].0) else { continue }
                members[i].1 = members[i].1.replacing(under)
            }
            return .object(members)
        case .array(var items):
            var byIndex: [Int: [(path: ArraySlice<ContentText.Step>, text: String)]] = [:]
            for t in texts {
                if case .index(let i)? = t.path.first, items.indices.contains(i) {
                    byIndex[i, default: []].append((t.path.dropFirst(), t.text))
                }
            }
            for (i, under) in byIndex { items[i] = items[i].replacing(under) }
            return .array(items)
        default:
            return self
        }
    }
}

/// Gathers a body's texts with their paths as a provider walks its shapes. Anything not of the shape looked for (a
/// number where text was expected, a part that is not an object) is skipped.
struct TextGatherer {
    typealias Path = [ContentText.Step]
    var texts: [ContentText] = []

    /// `value`, if it is a string.
    mutating func string(_ value: JSONValue?, at path: Path) {
        if case .string(let s)? = value { texts.append(ContentText(path: path, text: s)) }
    }

    /// A string, or an array of strings (a prompt or an embedding input; an array of token numbers is not text).
    mutating func strings(_ value: JSONValue?, at path: Path) {
        string(value, at: path)
        for (item, itemPath) in Self.items(value, at: path) { string(item, at: itemPath) }
    }

    /// A message's content: a string, or an array of parts whose `type` is one of `types`, read at their `text`.
    mutating func content(_ value: JSONValue?, at path: Path, types: Set<String>) {
        string(value, at: path)
        for (part, partPath) in Self.items(value, at: path) {
            guard case .string(let type)? = part["type"], types.contains(type) else { continue }
            string(part["text"], at: partPath + [.key("text")])
        }
    }

    /// The `text` of each part of `parts` (Gemini's parts have no type: a text part is one with `text`).
    mutating func partTexts(_ parts: JSONValue?, at path: Path) {
        for (part, partPath) in Self.items(parts, at: path) { string(part["text"], at: partPath + [.key("text")]) }
    }

    /// The items of an array, each with its path under `path`; none for anything else.
    static func items(_ value: JSONValue?, at path: Path) -> [(JSONValue, Path)] {
        guard case .array(let items)? = value else { return [] }
        return items.enumerated().map { ($1, path + [.index($0)]) }
    }
}

extension JSONValue? {
    /// The items of an array, none for anything else (a member that is missing or of another type).
    var arrayItems: [JSONValue] { if case .array(let items)? = self { items } else { [] } }
    /// The string, "" for anything else (an answer's fragment that is missing or not text adds nothing).
    var textOrEmpty: String { if case .string(let s)? = self { s } else { "" } }
}

/// A reader's `carried` between a stream's events: which `AnswerText` call each of the stream's blocks is (Anthropic's
/// content block index, the Responses API's output index), so an argument fragment goes to its own call.
extension JSONValue {
    func call(forBlock block: JSONValue?) -> Int? {
        guard case .number(let i)? = block, case .number(let call)? = self["calls"]?[i] else { return nil }
        return Int(call)
    }

    mutating func noteCall(_ call: Int, forBlock block: JSONValue?) {
        // Calls past the most `AnswerText` keeps are not noted: the map stays as small as the answer.
        guard case .number(let i)? = block, call < 128, self.call(forBlock: block) == nil else { return }
        var calls = self["calls"] ?? .object([])
        calls.setMember(i, .number(String(call)))
        setMember("calls", calls)
    }

    /// Sets an object's member, adding it at the end if new (`carried` starts as `.null`, made an object here).
    mutating func setMember(_ key: String, _ value: JSONValue) {
        var members: [(String, JSONValue)] = []
        if case .object(let existing) = self { members = existing }
        if let i = members.firstIndex(where: { $0.0 == key }) {
            members[i].1 = value
        } else {
            members.append((key, value))
        }
        self = .object(members)
    }
}

extension AnswerText {
    /// `append`, handed at most one character more than fits: its own cut drops a character at a time and counts
    /// the rest again after each, so a piece far past the limit (a whole answer of 2 MiB, one long stream line
    /// arriving when the text is nearly full) would cost minutes. Past the limit it still notes the cut.
    mutating func appendText(_ piece: String) {
        let room = Self.limit - text.utf8.count
        guard !textCut, piece.utf8.count > room + 4, room >= 0 else { return append(piece) }
        let utf8 = piece.utf8
        // The first scalar boundary past the room: more than fits, so `append` cuts there and says so.
        var end = utf8.index(utf8.startIndex, offsetBy: room + 1)
        while end < utf8.endIndex, utf8[end] & 0xC0 == 0x80 { end = utf8.index(after: end) }
        append(String(Substring(utf8[..<end])))
    }

    /// Adds to the refusal as it arrives, up to `limit` like the text (a stream may send any amount).
    mutating func appendRefusal(_ piece: String) {
        guard refusal.utf8.count + piece.utf8.count <= Self.limit else { return }
        refusal += piece
    }
}
