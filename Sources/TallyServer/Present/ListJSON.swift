import TallyCore

/// The one envelope of every list the API answers: `{"data":[…]}`, and on the routes that page (or are documented
/// as paging) `{"data":[…],"next_cursor":…}`.
enum ListJSON {
    /// `{"data":[…]}`.
    static func list<T>(_ items: [T], _ write: (T, inout JSONWriter) -> Void) -> String {
        envelope(items, nextCursor: nil, write)
    }

    /// `{"data":[…],"next_cursor":"…"}`, `null` on the last page.
    static func page<T>(_ items: [T], nextCursor: String?, _ write: (T, inout JSONWriter) -> Void) -> String {
        envelope(items, nextCursor: .some(nextCursor), write)
    }

    private static func envelope<T>(_ items: [T], nextCursor: String??, _ write: (T, inout JSONWriter) -> Void)
        -> String
    {
        var w = JSONWriter()
        w.beginObject()
        w.key("data")
        w.beginArray()
        for item in items { write(item, &w) }
        w.endArray()
        if let nextCursor { w.field("next_cursor", nextCursor) }
        w.endObject()
        return w.text
    }
}
