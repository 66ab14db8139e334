import Plot

/// Plot escapes text nodes but writes attribute values as given, so every value that is not a literal goes
/// through `esc` (a name with a quote in it must not end the attribute). `scripts/check-attributes` keeps it so.
package func esc(_ value: String) -> String { escape(value) }

/// For attributes that are left out when nil.
package func esc(optional value: String?) -> String? { value.map(escape) }



/// Escapes the five characters that matter in HTML text and quoted attribute values.
package func escape(_ text: String) -> String {
    guard text.contains(where: { $0 == "&" || $0 == "<" || $0 == ">" || $0 == "\"" || $0 == "'" }) else { return text }
    var out = ""
    out.reserveCapacity(text.utf8.count + 16)
    for c in text {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(c)
        }
    }
    return out
}

extension Node {
    /// `data-value` carries a figure exactly as the API writes it, kept even when empty (an unknown cost), so scripts
    /// and tests can tell "no value" from "no attribute".
    package static func dataValue(_ value: String) -> Node {
        .attribute(named: "data-value", value: esc(value), ignoreIfValueIsEmpty: false)
    }
}
