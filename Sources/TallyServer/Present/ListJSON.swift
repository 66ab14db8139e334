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

    /// A page with fields of its own after `next_cursor` (the events list's `raw_events_from`).
    static func page<T>(
        _ items: [T], nextCursor: String?, _ write: (T, inout JSONWriter) -> Void,
        then more: (inout JSONWriter) -> Void
    ) -> String {
        envelope(items, nextCursor: .some(nextCursor), write, then: more)
    }

    private static func envelope<T>(
        _ items: [T], nextCursor: String??, _ write: (T, inout JSONWriter) -> Void,
        then more: (inout JSONWriter) -> Void = { _ in }
    ) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("data")
        w.beginArray()
        for item in items { write(item, &w) }
        w.endArray()
        if let nextCursor { w.field("next_cursor", nextCursor) }
        more(&w)
        w.endObject()
        return w.text
    }
}
