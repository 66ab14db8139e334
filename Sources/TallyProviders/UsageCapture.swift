import TallyCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a provider response as it streams past the gateway and keeps what a usage event needs: the model as
/// answered, the usage, finish reason and error type, and what the answer said (`AnswerText`, for the safety checks).
/// Bytes are observed, never changed (see `StreamFilter`).
public struct UsageCapture: Sendable {
    /// Which call an answer is to: the provider whose shapes it comes in, and the call. Each provider declares its
    /// own in its folder (`.openAIChat`, `.anthropicMessages`, `.geminiGenerate`…).
    public struct Kind: Sendable, Hashable {
        /// nil: `.other`.
        package let provider: ProviderKind?
        package let name: String
        /// What an event of this call records as its operation.
        package let operation: Operation
        /// Whether a streamed answer's objects come on lines without `data:` (Gemini's JSON-array stream).
        package let bareLines: Bool

        package init(provider: ProviderKind?, name: String, operation: Operation, bareLines: Bool = false) {
            self.provider = provider
            self.name = name
            self.operation = operation
            self.bareLines = bareLines
        }

        /// Any other path: forwarded untouched, recorded as a request without tokens.
        public static let other = Kind(provider: nil, name: "other", operation: .other)
    }

    public struct Result: Sendable, Equatable {
        public var model: String?
        public var usage: TokenUsage?
        public var finishReason: String?
        public var errorType: String?
        public var streamed: Bool
        /// The service tier the answer says served the call (lowercased, `ServiceTier.name`); in a stream the
        /// latest an event named. nil when the answer names none.
        public var serviceTier: String?
        /// What a successful answer said (empty for a failed call): its text, refusal and tool-call arguments.
        public var answer: AnswerText
        public init(
            model: String?, usage: TokenUsage?, finishReason: String?, errorType: String?, streamed: Bool,
            serviceTier: String? = nil, answer: AnswerText = AnswerText()
        ) {
            self.model = model
            self.usage = usage
            self.finishReason = finishReason
            self.errorType = errorType
            self.streamed = streamed
            self.serviceTier = serviceTier
            self.answer = answer
        }
    }

    /// Notes a failure seen around the stream (a client that went away, an upstream that broke off).
    public mutating func markError(_ type: String) { result.errorType = result.errorType ?? type }

    public let kind: Kind
    public let streamed: Bool
    /// The provider that reads the answer's objects; nil for `.other`.
    let reader: (any ProviderAPI)?
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
        reader = kind.provider?.api
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
            // A stream's lines are read before its status is known: a failed call's answer is not one.
            if status >= 400 { result.answer = AnswerText() }
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
        } else if !kind.bareLines {
            return
        }
        // Gemini's array stream: strip the array's brackets and separators around each object.
        while let f = bytes.first, f == UInt8(ascii: "[") || f == UInt8(ascii: ",") || f == UInt8(ascii: " ") {
            bytes = bytes.dropFirst()
        }
        while let l = bytes.last, l == UInt8(ascii: "]") || l == UInt8(ascii: ",") || l == UInt8(ascii: " ") {
            bytes = bytes.dropLast()
        }
        guard bytes.first == UInt8(ascii: "{"), let value = try? JSONParser.parse(bytes) else { return }
        if value["error"] != nil, let type = Self.errorType(value) { result.errorType = type; return }
        read(value)
    }

    /// Reads one JSON object: a whole response, or one event of a stream.
    mutating func read(_ v: JSONValue) {
        reader?.readUsage(v, kind: kind, into: &result, carried: &carried)
        reader?.readAnswer(v, kind: kind, into: &result.answer, carried: &answerCarried)
    }

    /// What the provider keeps from one event of a stream to the next (Anthropic: the usage so far).
    var carried: JSONValue = .null
    /// The same for the answer's content (which call a stream's argument fragments belong to).
    var answerCarried: JSONValue = .null

    static func string(_ x: JSONValue?) -> String? { if case .string(let s)? = x { s } else { nil } }

    /// OpenAI `error.type`/`code`, Anthropic `error.type`, Google `error.status`.
    static func errorType(_ v: JSONValue) -> String? {
        let error = v["error"] ?? .null
        for key in ["type", "status", "code"] {
            if case .string(let s)? = error[key], !s.isEmpty { return s }
        }
        return nil
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
