import TallySafety

/// The texts `detector` matches in `text`.
func found(_ detector: Detector, in text: String) -> [String] {
    Detector.matches(of: detector, in: text).map { String(text[$0]) }
}

/// The texts `pattern` matches in `text`, with a generous budget.
func found(_ pattern: String, in text: String) throws -> [String] {
    let regex = try BoundedRegex(pattern)
    var budget = ScanBudget()
    return regex.matches(in: text, budget: &budget).map { String(text[$0]) }
}

/// The problem `pattern` is refused with, or nil when it compiles.
func problem(_ pattern: String) -> String? {
    do {
        _ = try BoundedRegex(pattern)
        return nil
    } catch {
        return error.message
    }
}
