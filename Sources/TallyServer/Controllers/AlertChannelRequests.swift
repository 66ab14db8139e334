import TallyCore
import TallyServices

/// The request bodies of the alert-channel API, read into the service's typed inputs.
extension AlertChannelDraft {
    /// `POST /api/v1/alert-channels`: `{"name"?, "type", "to"}` (email), `{"url", "secret"?}` (webhook),
    /// `{"webhook_url"}` (slack, discord).
    init(body: JSONValue) throws {
        let fields = try JSONFields(body, allowed: ["name", "type", "to", "url", "secret", "webhook_url"])
        let kind = try AlertChannelRules.kind(try fields.string("type"))
        try Self.refuseOthers(fields, kind: kind)
        self.init(
            name: try fields.string("name"), kind: kind, to: try Self.addresses(fields) ?? [],
            url: try fields.string("url"), secret: try fields.string("secret"),
            webhookURL: try fields.string("webhook_url"))
    }

    /// The fields each kind takes; another kind's field is named, not ignored.
    static let fieldsOf: [AlertChannelKind: Set<String>] = [
        .email: ["to"], .webhook: ["url", "secret"], .slack: ["webhook_url"], .discord: ["webhook_url"],
    ]

    static func refuseOthers(_ fields: JSONFields, kind: AlertChannelKind) throws {
        let own = fieldsOf[kind] ?? []
        for field in ["to", "url", "secret", "webhook_url"] where fields.members[field] != nil && !own.contains(field) {
            throw TallyError.invalid([
                FieldProblem(field: field, reason: "does not apply to a \(kind.rawValue) channel")
            ])
        }
    }

    /// `to`: a list of strings (one address is accepted as a string too).
    static func addresses(_ fields: JSONFields) throws -> [String]? {
        switch fields.members["to"] {
        case nil, .null?: return nil
        case .string(let one)?: return [one]
        case .array(let items)?:
            return try items.enumerated().map { i, item in
                guard case .string(let s) = item else {
                    throw TallyError.invalid([FieldProblem(field: "to", reason: "entry \(i + 1) must be a string")])
                }
                return s
            }
        default:
            throw TallyError.invalid([FieldProblem(field: "to", reason: "must be a list of email addresses")])
        }
    }
}

extension AlertChannelChanges {
    /// `PATCH /api/v1/alert-channels/{id}`: `type` may be repeated but not changed; `"secret": null` removes a
    /// webhook's signing secret.
    init(body: JSONValue, current: AlertChannel) throws {
        let fields = try JSONFields(body, allowed: ["name", "type", "to", "url", "secret", "webhook_url"])
        if let type = try fields.string("type"), type != current.kind.rawValue {
            throw TallyError.invalid([
                FieldProblem(field: "type", reason: "cannot be changed; create a channel of the other type")
            ])
        }
        try AlertChannelDraft.refuseOthers(fields, kind: current.kind)
        let secret: String?? = fields.members["secret"] == nil ? nil : .some(try fields.string("secret"))
        self.init(
            name: try fields.string("name"), to: try AlertChannelDraft.addresses(fields), url: try fields.string("url"),
            secret: secret, webhookURL: try fields.string("webhook_url"))
    }
}
