/// Recognises an answer that opens with a common refusal. Only the opening is read, so an answer that apologises
/// for something else ("I'm sorry for the delay, here is…") or refuses halfway through a helpful answer is not a
/// refusal.
enum RefusalOpenings {
    /// Lowercased, straight apostrophes. Extend freely: each is matched as a prefix of the answer's opening.
    static let openings: [String] = [
        "i'm sorry, but i can't",
        "i'm sorry, but i cannot",
        "i'm sorry, but i won't",
        "i am sorry, but i cannot",
        "i am sorry, but i can't",
        "i'm sorry, i can't",
        "i'm sorry, i cannot",
        "sorry, i can't",
        "sorry, but i can't",
        "sorry, i cannot",
        "i can't help with",
        "i cannot help with",
        "i can't assist",
        "i cannot assist",
        "i can't provide",
        "i cannot provide",
        "i'm unable to help",
        "i'm unable to assist",
        "i'm unable to provide",
        "i am unable to",
        "i won't be able to help",
        "i'm not able to help",
        "as an ai language model, i cannot",
        "as an ai language model, i can't",
        "i must decline",
        "unfortunately, i can't help",
        "unfortunately, i cannot help",
    ]

    static func opens(_ text: String) -> Bool {
        let opening = normalizedOpening(text)
        return openings.contains { opening.hasPrefix($0) }
    }

    /// The first 200 characters after leading whitespace, lowercased, with curly apostrophes made straight.
    static func normalizedOpening(_ text: String) -> String {
        let trimmed = text.drop { $0.isWhitespace }
        var opening = String.UnicodeScalarView()
        for scalar in String(trimmed.prefix(200)).lowercased().unicodeScalars {
            opening.append(scalar == "\u{2019}" || scalar == "\u{2018}" ? "'" : scalar)
        }
        return String(opening)
    }
}
