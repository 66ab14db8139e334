import Foundation

/// Spreadsheet-safe CSV, one rule for the API's export and the dashboard's.
public enum CSV {
    /// Quotes a cell (RFC 4180) and neutralises spreadsheet formulas: a cell that begins with
    /// `= + - @`, a tab or a carriage return gets a leading apostrophe.
    public static func cell(_ raw: String) -> String {
        var value = raw
        if let first = value.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) {
            value = "'" + value
        }
        // Scalars, not Characters: "\r\n" is one Character, equal to neither "\n" nor "\r", and would split the row.
        guard value.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else {
            return value
        }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
