/// Detects an answer stuck in a loop: some span of 1–50 words repeated back-to-back at least 3 times, the run
/// covering at least 40 words ("the the the …", or a 10-word sentence said 4 times). Reads the first 64 KiB.
enum RepetitionCheck {
    static let readLimit = 64 * 1024
    static let longestSpan = 50
    static let minimumWords = 40
    static let minimumRepeats = 3

    static func repeats(_ text: String) -> Bool {
        let words = wordIdentifiers(text)
        guard words.count >= minimumWords else { return false }
        // For each span length p, count how many words in a row equal the word p places later: a run of r such
        // positions means the span repeats back-to-back over r + p words. O(words × 50).
        for span in 1...min(longestSpan, words.count / minimumRepeats) {
            var run = 0
            for index in 0..<(words.count - span) {
                run = words[index] == words[index + span] ? run + 1 : 0
                if run + span >= minimumWords, run >= span * (minimumRepeats - 1) { return true }
            }
        }
        return false
    }

    /// The words (runs of letters and digits, lowercased) of the text's first `readLimit` bytes, each as a small
    /// integer so comparing two is cheap.
    static func wordIdentifiers(_ text: String) -> [Int] {
        var identifiers: [String: Int] = [:]
        var words: [Int] = []
        var current = ""
        func finishWord() {
            guard !current.isEmpty else { return }
            let lowered = current.lowercased()
            if let known = identifiers[lowered] {
                words.append(known)
            } else {
                identifiers[lowered] = identifiers.count
                words.append(identifiers.count - 1)
            }
            current = ""
        }
        var bytesRead = 0
        for scalar in text.unicodeScalars {
            bytesRead += UTF8.width(scalar)
            if bytesRead > readLimit { break }
            if scalar.properties.isAlphabetic || scalar.properties.numericType != nil {
                current.unicodeScalars.append(scalar)
            } else {
                finishWord()
            }
        }
        finishWord()
        return words
    }
}
