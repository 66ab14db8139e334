import TallyCore

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
            let blank =
                before(newline, 1) == UInt8(ascii: "\n")
                || (before(newline, 1) == UInt8(ascii: "\r") && before(newline, 2) == UInt8(ascii: "\n")
                    && before(newline, 3) == UInt8(ascii: "\r"))
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
        guard let start = event.firstIndex(of: UInt8(ascii: "{")), let end = event.lastIndex(of: UInt8(ascii: "}")),
            start < end,
            let value = try? JSONParser.parse(event[start...end])
        else { return false }
        guard case .array(let choices)? = value["choices"], choices.isEmpty, let usage = value["usage"], usage != .null
        else { return false }
        return true
    }
}
