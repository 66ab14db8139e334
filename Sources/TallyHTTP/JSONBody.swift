import Hummingbird
import TallyCore

/// Small JSON request bodies (prices, quotes): parsed strictly, every problem named by field.
package enum JSONBody {
    package static let maxBytes = 256 * 1024

    /// `emptyIsObject`: an absent body means `{}` (for routes whose every field is optional).
    package static func read(_ request: Request, emptyIsObject: Bool = false) async throws -> JSONValue {
        var request = request
        let buffer = try await request.collectBody(upTo: maxBytes)
        if emptyIsObject && buffer.readableBytes == 0 { return .object([]) }
        do {
            return try JSONParser.parse(Array(buffer.readableBytesView))
        } catch {
            throw TallyError.invalid([
                FieldProblem(field: "body", reason: "malformed JSON at byte \(error.offset): \(error.reason)")
            ])
        }
    }

    /// The members of a JSON object (TallyCore's `JSONFields`).
    package typealias Fields = JSONFields
}
