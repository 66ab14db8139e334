import TallyCore

/// Reads a provider response as it streams past the gateway and keeps what a usage event needs: the model as
/// answered, the usage, finish reason and error type. Bytes are observed, never changed (see `StreamFilter`).
public struct UsageCapture: Sendable {
    public enum Kind: Sendable, Equatable {
        case openAIChat, openAIResponses, openAIEmbeddings, openAICompletions
        case anthropicMessages
        case geminiGenerate, geminiEmbed
        /// Any other path: forwarded untouched, recorded as a request without tokens.
        case other
    }

    public struct Result: Sendable, Equatable {
        public var model: String?
        public var usage: TokenUsage?
        public var finishReason: String?
        public var errorType: String?
        public var streamed: Bool
        public init(model: String?, usage: TokenUsage?, finishReason: String?, errorType: String?, streamed: Bool) {
            self.model = model
            self.usage = usage
            self.finishReason = finishReason
            self.errorType = errorType
            self.streamed = streamed
        }
    }

    /// Notes a failure seen around the stream (a client that went away, an upstream that broke off).
    public mutating func markError(_ type: String) { result.errorType = result.errorType ?? type }

    public let kind: Kind
    public let streamed: Bool
    /// Non-streaming bodies are kept up to this size to read their usage at the end.
    static let jsonLimit = 8 << 20
    var json: [UInt8] = []
    var overflow = false
    var line: [UInt8] = []
    var result: Result

    public init(kind: Kind, streamed: Bool, requestedModel: String?) {
        self.kind = kind
        self.streamed = streamed
        result = Result(model: requestedModel, usage: nil, finishReason: nil, errorType: nil, streamed: streamed)
    }

    public mutating func consume(_ bytes: some Sequence<UInt8>) {
        guard kind != .other else { return }
        if !streamed {
            guard !overflow else { return }
            json.append(contentsOf: bytes)
            if json.count > Self.jsonLimit { overflow = true; json = [] }
            return
        }
        // SSE (and Gemini's JSON-array stream, whose objects arrive one per line when pretty-printed): one line at a time.
        for b in bytes {
            if b == UInt8(ascii: "\n") {
                handleLine(line)
                line.removeAll(keepingCapacity: true)
            } else if b != UInt8(ascii: "\r") {
                line.append(b)
            }
        }
    }

    public mutating func finish(status: Int) -> Result {
        if streamed {
            if !line.isEmpty { handleLine(line) }
        } else if let value = try? JSONParser.parse(json) {
            if status >= 400 { result.errorType = Self.errorType(value) } else { read(value) }
        }
        return result
    }

    mutating func handleLine(_ raw: [UInt8]) {
        var bytes = raw[...]
        if bytes.starts(with: Array("data:".utf8)) {
            bytes = bytes.dropFirst(5)
            while bytes.first == UInt8(ascii: " ") { bytes = bytes.dropFirst() }
        } else if kind != .geminiGenerate {
            return
        }
        // Gemini's array stream: strip the array's brackets and separators around each object.
        while let f = bytes.first, f == UInt8(ascii: "[") || f == UInt8(ascii: ",") || f == UInt8(ascii: " ") { bytes = bytes.dropFirst() }
        while let l = bytes.last, l == UInt8(ascii: "]") || l == UInt8(ascii: ",") || l == UInt8(ascii: " ") { bytes = bytes.dropLast() }
        guard bytes.first == UInt8(ascii: "{"), let value = try? JSONParser.parse(bytes) else { return }
        if value["error"] != nil, let type = Self.errorType(value) { result.errorType = type; return }
        read(value)
    }

    /// Reads one JSON object: a whole response, or one event of a stream.
    mutating func read(_ v: JSONValue) {
        func string(_ x: JSONValue?) -> String? { if case .string(let s)? = x { s } else { nil } }
        switch kind {
        case .openAIChat, .openAICompletions:
            if let m = string(v["model"]) { result.model = m }
            if let u = v["usage"], u != .null { result.usage = ProviderUsage.openAIChat(u) }
            if case .array(let choices)? = v["choices"], let reason = choices.lazy.compactMap({ string($0["finish_reason"]) }).first {
                result.finishReason = reason
            }
        case .openAIEmbeddings:
            if let m = string(v["model"]) { result.model = m }
            if let u = v["usage"], u != .null { result.usage = ProviderUsage.openAIChat(u) }
        case .openAIResponses:
            // Non-streaming: the response itself; streaming: `response.*` events carrying it.
            let response = v["response"] ?? v
            if let m = string(response["model"]) { result.model = m }
            if let u = response["usage"], u != .null { result.usage = ProviderUsage.openAIResponses(u) }
            if let status = string(response["status"]), status != "in_progress" { result.finishReason = status }
        case .anthropicMessages:
            switch string(v["type"]) {
            case "message_start":
                let message = v["message"] ?? .null
                if let m = string(message["model"]) { result.model = m }
                anthropicUsage = message["usage"] ?? .null
                result.usage = ProviderUsage.anthropic(anthropicUsage)
            case "message_delta":
                // The delta's usage overwrites the counts it carries; the start's cache counts stay.
                if case .object(let fields)? = v["usage"], case .object(var merged) = anthropicUsage {
                    for (k, value) in fields {
                        if let i = merged.firstIndex(where: { $0.0 == k }) { merged[i].1 = value } else { merged.append((k, value)) }
                    }
                    anthropicUsage = .object(merged)
                    result.usage = ProviderUsage.anthropic(anthropicUsage)
                }
                if let r = string(v["delta"]?["stop_reason"]) { result.finishReason = r }
            case "message":
                if let m = string(v["model"]) { result.model = m }
                if let u = v["usage"] { result.usage = ProviderUsage.anthropic(u) }
                if let r = string(v["stop_reason"]) { result.finishReason = r }
            default: break
            }
        case .geminiGenerate:
            if let m = string(v["modelVersion"]) { result.model = m }
            if let u = v["usageMetadata"], u != .null { result.usage = ProviderUsage.gemini(u) }
            if case .array(let candidates)? = v["candidates"], let r = candidates.lazy.compactMap({ string($0["finishReason"]) }).first {
                result.finishReason = r
            }
        case .geminiEmbed:
            if let u = v["usageMetadata"], u != .null { result.usage = ProviderUsage.gemini(u) }
        case .other:
            break
        }
    }

    var anthropicUsage: JSONValue = .null

    /// OpenAI `error.type`/`code`, Anthropic `error.type`, Google `error.status`.
    static func errorType(_ v: JSONValue) -> String? {
        let error = v["error"] ?? .null
        for key in ["type", "status", "code"] {
            if case .string(let s)? = error[key], !s.isEmpty { return s }
        }
        return nil
    }
}

/// Removes the usage-only final chunk that the gateway asked OpenAI for when the client did not
/// (`stream_options.include_usage`), so the client sees exactly the stream it asked for.
public struct StreamFilter: Sendable {
    var pending: [UInt8] = []

    public init() {}

    /// Returns the bytes to pass on: whole SSE events, without `data: {…"choices":[]…"usage":{…}}` events.
    public mutating func pass(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        pending.append(contentsOf: bytes)
        var out: [UInt8] = []
        while let end = Self.eventEnd(pending) {
            let event = Array(pending[..<end])
            pending.removeFirst(end)
            if !Self.isUsageOnly(event) { out += event }
        }
        return out
    }

    public mutating func flush() -> [UInt8] {
        defer { pending = [] }
        return Self.isUsageOnly(pending) ? [] : pending
    }

    /// The index just past the blank line that ends the first event.
    static func eventEnd(_ b: [UInt8]) -> Int? {
        var i = 0
        while i + 1 < b.count {
            if b[i] == UInt8(ascii: "\n") && b[i + 1] == UInt8(ascii: "\n") { return i + 2 }
            if i + 3 < b.count, b[i] == 13, b[i + 1] == 10, b[i + 2] == 13, b[i + 3] == 10 { return i + 4 }
            i += 1
        }
        return nil
    }

    static func isUsageOnly(_ event: [UInt8]) -> Bool {
        guard let start = event.firstIndex(of: UInt8(ascii: "{")), let end = event.lastIndex(of: UInt8(ascii: "}")), start < end,
              let value = try? JSONParser.parse(event[start...end])
        else { return false }
        guard case .array(let choices)? = value["choices"], choices.isEmpty, let usage = value["usage"], usage != .null else { return false }
        return true
    }
}
