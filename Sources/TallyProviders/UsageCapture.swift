#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
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
    /// The longest SSE line (one event's data) read for usage: 1 MiB.
    public static let lineLimit = 1 << 20
    var line: [UInt8] = []
    var lineOverflow = false
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
            if json.count > Self.jsonLimit { abandonBody() }
            return
        }
        // SSE (and Gemini's JSON-array stream, whose objects arrive one per line when pretty-printed): one line at a
        // time, found with memchr, each byte looked at once. A line past `lineLimit` cannot be one a usage event needs
        // (those are a few KiB): it is dropped as it goes, so a hostile or broken upstream costs bounded memory.
        if bytes.withContiguousStorageIfAvailable({ scanLines($0) }) == nil {
            Array(bytes).withUnsafeBufferPointer { scanLines($0) }
        }
    }

    mutating func scanLines(_ buffer: UnsafeBufferPointer<UInt8>) {
        var start = 0
        while start < buffer.count {
            let newline = ByteScan.index(of: UInt8(ascii: "\n"), in: buffer, from: start)
            let end = newline ?? buffer.count
            if !lineOverflow {
                if line.count + (end - start) > Self.lineLimit {
                    lineOverflow = true
                    line = []
                } else {
                    line.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<end]))
                }
            }
            guard let newline else { return }
            if !lineOverflow {
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                handleLine(line)
            }
            line.removeAll(keepingCapacity: line.capacity <= 64 << 10)
            lineOverflow = false
            start = newline + 1
        }
    }

    /// Whether `consume` is keeping the body whole (a JSON answer), so the caller can account for the bytes.
    public var buffersBody: Bool { kind != .other && !streamed && !overflow }

    /// Stops keeping the body (too large, or no memory to spare): the call is recorded without usage.
    public mutating func abandonBody() {
        overflow = true
        json = []
    }

    public mutating func finish(status: Int) -> Result {
        if streamed {
            if !line.isEmpty && !lineOverflow { handleLine(line) }
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
                // The delta's usage overwrites the counts it carries; the start's cache counts stay. The newer API
                // repeats every count here (cumulative, never increments); a count sent as null is absent, as in the
                // SDK's own accumulator: overwriting with it dropped the start's input or cache tokens.
                if case .object(let fields)? = v["usage"], case .object(var merged) = anthropicUsage {
                    for (k, value) in fields where value != .null {
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
/// Line ends are found with memchr and each byte is looked at once; an event is held only up to `eventLimit` (a usage
/// chunk is far smaller), past that its bytes pass straight through, so a huge event costs neither memory nor rescans.
public struct StreamFilter: Sendable {
    public static let eventLimit = 1 << 20
    /// The event being read, until its blank line.
    var event: [UInt8] = []
    /// Inside an event longer than `eventLimit`: passed on as it comes.
    var passing = false
    /// The last (up to three) bytes of the current event seen in earlier pieces: a blank line may span two pieces.
    var recent: [UInt8] = []

    public init() {}

    /// Returns the bytes to pass on: whole SSE events, without `data: {…"choices":[]…"usage":{…}}` events.
    public mutating func pass(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        if let out = bytes.withContiguousStorageIfAvailable({ pass($0) }) { return out }
        return Array(bytes).withUnsafeBufferPointer { pass($0) }
    }

    mutating func pass(_ buffer: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        var start = 0  // where the current event's bytes in this piece begin
        var from = 0
        /// The byte `back` places before `i` within the current event, if there is one.
        func before(_ i: Int, _ back: Int) -> UInt8? {
            let j = i - back
            if j >= start { return buffer[j] }
            guard start == 0, recent.count >= -j else { return nil }
            return recent[recent.count + j]
        }
        while let newline = ByteScan.index(of: UInt8(ascii: "\n"), in: buffer, from: from) {
            from = newline + 1
            let blank = before(newline, 1) == UInt8(ascii: "\n")
                || (before(newline, 1) == UInt8(ascii: "\r") && before(newline, 2) == UInt8(ascii: "\n") && before(newline, 3) == UInt8(ascii: "\r"))
            guard blank else { continue }
            let piece = UnsafeBufferPointer(rebasing: buffer[start...newline])
            if passing {
                out.append(contentsOf: piece)
            } else {
                event.append(contentsOf: piece)
                if !Self.isUsageOnly(event) { out.append(contentsOf: event) }
            }
            event.removeAll(keepingCapacity: event.capacity <= 64 << 10)
            passing = false
            recent = []
            start = newline + 1
        }
        let rest = UnsafeBufferPointer(rebasing: buffer[start...])
        recent = start == 0 && rest.count < 3 ? Array((recent + rest).suffix(3)) : Array(rest.suffix(3))
        if passing {
            out.append(contentsOf: rest)
        } else {
            event.append(contentsOf: rest)
            if event.count > Self.eventLimit {
                out.append(contentsOf: event)
                event = []
                passing = true
            }
        }
        return out
    }

    public mutating func flush() -> [UInt8] {
        defer { event = [] }
        return passing || !Self.isUsageOnly(event) ? event : []
    }

    static func isUsageOnly(_ event: [UInt8]) -> Bool {
        guard let start = event.firstIndex(of: UInt8(ascii: "{")), let end = event.lastIndex(of: UInt8(ascii: "}")), start < end,
              let value = try? JSONParser.parse(event[start...end])
        else { return false }
        guard case .array(let choices)? = value["choices"], choices.isEmpty, let usage = value["usage"], usage != .null else { return false }
        return true
    }
}

/// memchr: the C library's byte search, fast in every build (a byte loop in a debug build costs about a microsecond
/// a byte, too slow for streams of many MiB).
enum ByteScan {
    static func index(of byte: UInt8, in buffer: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard from < buffer.count, let base = buffer.baseAddress else { return nil }
        guard let found = memchr(base + from, Int32(byte), buffer.count - from) else { return nil }
        return UnsafeRawPointer(base).distance(to: UnsafeRawPointer(found))
    }
}
