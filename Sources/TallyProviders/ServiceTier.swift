import TallyCore

/// A service tier as a provider's answer or a client's request names it (OpenAI `service_tier`, Anthropic
/// `usage.service_tier`, Gemini `serviceTier`), read as hostile input: only a string, lowercased. The gateway then
/// holds it to the ingest API's text rules for `service_tier` (`EventRules`) before it is stored.
package enum ServiceTier {
    /// Longer than any tier name and than the API's 64 characters: not read at all, so a 10 KB value costs nothing.
    static let maxBytes = 64

    /// The tier `value` names, lowercased; nil for anything but a non-empty string of at most `maxBytes` bytes.
    package static func name(_ value: JSONValue?) -> String? {
        guard case .string(let s)? = value, !s.isEmpty, s.utf8.count <= maxBytes else { return nil }
        return s.lowercased()
    }
}
