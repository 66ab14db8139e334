import TallyCore

/// A Slack incoming-webhook message in Block Kit: a header, a section with the summary, a section of fields (the
/// figures), a context line (the estimate note) and an actions block with a button to the usage explorer. `text` is
/// the notification's fallback, which Slack reads as mrkdwn: its &, < and > are escaped, so a feature or model name
/// like `<!channel>` or `<https://evil|x>` cannot ping or link. Elsewhere data goes in `plain_text` fields.
public enum SlackMessage {
    public static func body(_ m: AlertMessage) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("text", escaped(clipped(m.title + ": " + m.figures.summary, 3000)))
        w.key("blocks")
        w.beginArray()
        block(&w, "header") { plain(&$0, "text", clipped(m.title, 150)) }
        block(&w, "section") { plain(&$0, "text", clipped(m.figures.summary, 3000)) }
        let facts = m.facts.prefix(10)
        if !facts.isEmpty {
            block(&w, "section") { w in
                w.key("fields")
                w.beginArray()
                for fact in facts {
                    w.beginObject()
                    w.field("type", "plain_text")
                    w.field("text", clipped("\(fact.label): \(fact.value)", 2000))
                    w.endObject()
                }
                w.endArray()
            }
        }
        block(&w, "context") { w in
            w.key("elements")
            w.beginArray()
            w.beginObject()
            w.field("type", "plain_text")
            w.field("text", AlertMessage.estimateNote)
            w.endObject()
            w.endArray()
        }
        block(&w, "actions") { w in
            w.key("elements")
            w.beginArray()
            w.beginObject()
            w.field("type", "button")
            plain(&w, "text", "Open in Tally")
            w.field("url", m.explorerURL)
            w.field("action_id", "open_explorer")
            w.endObject()
            w.endArray()
        }
        w.endArray()
        w.endObject()
        return w.text
    }

    static func block(_ w: inout JSONWriter, _ type: String, _ content: (inout JSONWriter) -> Void) {
        w.beginObject()
        w.field("type", type)
        content(&w)
        w.endObject()
    }

    static func plain(_ w: inout JSONWriter, _ key: String, _ text: String) {
        w.key(key)
        w.beginObject()
        w.field("type", "plain_text")
        w.field("text", text)
        w.endObject()
    }

    /// Slack's escaping of mrkdwn text (its control sequences are `<…>`; `&` first, so entities are not doubled).
    static func escaped(_ s: String) -> String {
        s.replacing("&", with: "&amp;").replacing("<", with: "&lt;").replacing(">", with: "&gt;")
    }

    /// Slack and Discord refuse texts past their limits: keep the first characters.
    static func clipped(_ s: String, _ limit: Int) -> String {
        s.count <= limit ? s : String(s.prefix(limit - 1)) + "…"
    }
}
