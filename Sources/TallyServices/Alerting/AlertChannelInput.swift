import Foundation
import TallyCore

/// A new alert channel, as `POST /api/v1/alert-channels` gives it (checked by `AlertChannelRules`).
public struct AlertChannelDraft: Sendable, Equatable {
    public var name: String?
    public var kind: AlertChannelKind
    /// email: the recipients.
    public var to: [String]
    /// webhook: where to POST.
    public var url: String?
    /// webhook: the signing secret (optional).
    public var secret: String?
    /// slack, discord: the incoming-webhook URL (a bearer secret).
    public var webhookURL: String?

    public init(
        name: String?, kind: AlertChannelKind, to: [String] = [], url: String? = nil, secret: String? = nil,
        webhookURL: String? = nil
    ) {
        self.name = name
        self.kind = kind
        self.to = to
        self.url = url
        self.secret = secret
        self.webhookURL = webhookURL
    }
}

/// `PATCH /api/v1/alert-channels/{id}`: what is given replaces what is stored; the kind never changes.
public struct AlertChannelChanges: Sendable, Equatable {
    public var name: String?
    public var to: [String]?
    public var url: String?
    /// `.some(nil)`: remove the webhook's signing secret.
    public var secret: String??
    public var webhookURL: String?

    public init(
        name: String? = nil, to: [String]? = nil, url: String? = nil, secret: String?? = nil, webhookURL: String? = nil
    ) {
        self.name = name
        self.to = to
        self.url = url
        self.secret = secret
        self.webhookURL = webhookURL
    }
}

/// Every rule an alert channel's fields follow, each problem naming its field.
public enum AlertChannelRules {
    public static let maxRecipients = 20

    public static func kind(_ raw: String?) throws(TallyError) -> AlertChannelKind {
        guard let raw, let kind = AlertChannelKind(rawValue: raw) else {
            throw TallyError.invalid([
                FieldProblem(field: "type", reason: "must be email, webhook, slack or discord")
            ])
        }
        return kind
    }

    public static func name(_ raw: String) throws -> String { try DisplayName.validated(raw, field: "name") }

    /// Bare addresses, one line each (a CR or LF would let a name inject mail headers), 1 to 20 of them.
    public static func recipients(_ raw: [String]?) throws(TallyError) -> [String] {
        guard let raw, !raw.isEmpty else {
            throw TallyError.invalid([FieldProblem(field: "to", reason: "is required: a list of email addresses")])
        }
        guard raw.count <= maxRecipients else {
            throw TallyError.invalid([FieldProblem(field: "to", reason: "may hold at most \(maxRecipients) addresses")])
        }
        var out: [String] = []
        for (i, value) in raw.enumerated() {
            let address = value.trimmingCharacters(in: .whitespaces)
            guard isAddress(address) else {
                // The field is `to` (where a form shows it); the reason says which entry.
                throw TallyError.invalid([
                    FieldProblem(
                        field: "to",
                        reason: "entry \(i + 1) must be one email address such as ops@example.com, without line breaks")
                ])
            }
            if !out.contains(address) { out.append(address) }
        }
        return out
    }

    static func isAddress(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard s.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
            !parts[1].hasPrefix("."), !parts[1].hasSuffix(".")
        else { return false }
        return !s.unicodeScalars.contains {
            $0.value <= 0x20 || $0.value == 0x7F || DisplayName.isRefused($0)
                || "<>()[]\\,;:\"".unicodeScalars.contains($0)
        }
    }

    /// An http(s) URL with a host, without credentials or fragment, at most 2048 bytes. (Whether its host may be
    /// called is the address policy's question, asked by the service at creation and again at every delivery.)
    public static func url(_ raw: String?, field: String) throws(TallyError) -> String {
        guard let raw, !raw.isEmpty else {
            throw TallyError.invalid([FieldProblem(field: field, reason: "is required")])
        }
        guard raw.utf8.count <= 2048, !raw.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }),
            let url = URLComponents(string: raw), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty, url.user == nil,
            url.password == nil, url.fragment == nil
        else {
            throw TallyError.invalid([
                FieldProblem(
                    field: field,
                    reason: "must be an http(s) URL such as https://hooks.example.com/tally, without credentials")
            ])
        }
        return raw
    }

    /// A webhook's signing secret: 1 to 512 characters, no control characters.
    public static func secret(_ raw: String) throws(TallyError) -> String {
        guard (1...512).contains(raw.count), !raw.unicodeScalars.contains(where: DisplayName.isRefused) else {
            throw TallyError.invalid([
                FieldProblem(field: "secret", reason: "must be 1 to 512 characters without control characters")
            ])
        }
        return raw
    }

    /// What is shown of a Slack or Discord webhook URL (a bearer secret): its origin only.
    public static func mask(_ url: String) -> String { UpstreamHTTP.origin(url) + "/…" }
}
