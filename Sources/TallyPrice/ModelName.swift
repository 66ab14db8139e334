/// Turns the model names that reach Tally (dated snapshots, routes, cloud ids) into catalog names.
///
/// Tried in order: the name as given (lowercased, route prefixes removed); then without a cloud suffix
/// (`-v2:0`, `@20241022`); then without a date (`-2024-08-06`, `-20250929`), a `-latest` or a `-001` version.
/// The first name the catalog knows wins, so a snapshot priced on its own (gpt-4o-2024-05-13) keeps its price.
public enum ModelName {
    static let regionPrefixes = ["us.", "eu.", "apac.", "global.", "us-gov."]
    static let vendorPrefixes = ["anthropic.", "openai.", "google.", "amazon.", "meta.", "mistral.", "cohere."]

    public static func candidates(_ raw: String) -> [String] {
        var name = raw.lowercased().trimmingWhitespace
        // Routes and resource paths: `openai/gpt-4o`, `models/gemini-2.5-pro`, `projects/…/models/gemini-2.5-pro`.
        if !name.hasPrefix("ft:"), let slash = name.lastIndex(of: "/") {
            name = String(name[name.index(after: slash)...])
        }
        var names = [name]
        func add(_ n: String) { if !n.isEmpty, !names.contains(n) { names.append(n) } }

        // Bedrock: `us.anthropic.claude-3-5-sonnet-20241022-v2:0`.
        var cloud = name
        for p in regionPrefixes
        where cloud.hasPrefix(p) && vendorPrefixes.contains(where: { cloud.dropFirst(p.count).hasPrefix($0) }) {
            cloud = String(cloud.dropFirst(p.count))
        }
        for p in vendorPrefixes where cloud.hasPrefix(p) { cloud = String(cloud.dropFirst(p.count)) }
        cloud = strippingBedrockVersion(cloud)
        // Vertex: `claude-3-5-sonnet-v2@20241022`, `claude-sonnet-4-5@20250929`.
        if let at = cloud.firstIndex(of: "@") {
            var base = String(cloud[..<at])
            let date = String(cloud[cloud.index(after: at)...])
            base = strippingVersionTag(base)
            cloud = date.isEmpty ? base : base + "-" + date
        }
        add(cloud)
        for n in names { add(strippingSuffixes(n)) }
        return names
    }

    /// Removes a trailing `-v1:0` / `-v2` / `:0`.
    static func strippingBedrockVersion(_ s: String) -> String {
        var s = s
        if let colon = s.lastIndex(of: ":"), s[s.index(after: colon)...].allSatisfy(\.isNumber), !s.hasPrefix("ft:") {
            s = String(s[..<colon])
        }
        return strippingVersionTag(s)
    }

    static func strippingVersionTag(_ s: String) -> String {
        guard let dash = s.lastIndex(of: "-") else { return s }
        let tail = s[s.index(after: dash)...]
        if tail.count >= 2, tail.first == "v", tail.dropFirst().allSatisfy(\.isNumber) { return String(s[..<dash]) }
        return s
    }

    /// Removes one trailing date (`-2024-08-06`, `-20250929`), `-latest` or three-digit version (`-001`), repeatedly.
    static func strippingSuffixes(_ s: String) -> String {
        var s = s
        while true {
            let before = s
            let u = Array(s.utf8)
            func digits(_ from: Int, _ n: Int) -> Bool {
                from >= 0 && u[from..<(from + n)].allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
            }
            let n = u.count
            if n > 11, u[n - 11] == 0x2D, u[n - 6] == 0x2D, u[n - 3] == 0x2D, digits(n - 10, 4), digits(n - 5, 2),
                digits(n - 2, 2)
            {
                s = String(s.dropLast(11))
            } else if n > 9, u[n - 9] == 0x2D, digits(n - 8, 8) {
                s = String(s.dropLast(9))
            } else if s.hasSuffix("-latest") {
                s = String(s.dropLast(7))
            } else if n > 4, u[n - 4] == 0x2D, digits(n - 3, 3) {
                s = String(s.dropLast(4))
            }
            if s == before { return s }
        }
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}
