import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TallyCore
import TallyMail

/// How one attempt to deliver a message went.
public enum DeliveryOutcome: Sendable, Equatable {
    /// Accepted (the receiver's HTTP status; nil for mail).
    case delivered(status: Int?)
    /// Worth trying again later: a timeout, a connection that failed, 429, 5xx, an SMTP server that is down or said 4xx.
    /// `after`: the receiver's `Retry-After` in seconds, when it gave one (the next attempt waits at least that long).
    case retry(status: Int?, error: String, after: Int64? = nil)
    /// Retrying cannot help: another 4xx, a refused address, a channel without its secret or without SMTP.
    case failed(status: Int?, error: String)

    public var status: Int? {
        switch self {
        case .delivered(let s), .retry(let s, _, _), .failed(let s, _): s
        }
    }

    public var error: String? {
        switch self {
        case .delivered: nil
        case .retry(_, let e, _), .failed(_, let e): e
        }
    }
}

/// Sends one rendered alert to one channel. HTTP goes through `UpstreamHTTP` (the gateway's address policy checked
/// at every call, redirects never followed, a timeout); mail through the configured `Mailer`. Errors name what went
/// wrong but never a webhook's path or secret, and nothing here logs.
public struct AlertSender: Sendable {
    public let http: UpstreamHTTP
    public let mailer: (any Mailer)?
    public let timeout: TimeAmount

    public init(http: UpstreamHTTP, mailer: (any Mailer)?, timeout: TimeAmount = .seconds(10)) {
        self.http = http
        self.mailer = mailer
        self.timeout = timeout
    }

    /// `secret`: the channel's opened secret (webhook signing secret, Slack/Discord URL), if it has one.
    public func send(_ m: AlertMessage, to channel: AlertChannel, secret: String?, at now: Instant) async
        -> DeliveryOutcome
    {
        switch channel.kind {
        case .email: return await mail(m, to: channel.targets)
        case .webhook:
            guard let url = channel.targets.first else { return .failed(status: nil, error: "the webhook has no url") }
            let body = AlertWebhookPayload.body(m)
            var headers = [("X-Tally-Alert-Id", m.alertID)]
            if let secret {
                headers.append(
                    ("X-Tally-Signature", AlertWebhookPayload.signature(secret: secret, body: body, at: now)))
            }
            return await post(body, to: url, headers: headers)
        case .slack, .discord:
            guard let url = secret else {
                return .failed(status: nil, error: "the channel's webhook_url is missing; set it again")
            }
            return await post(
                channel.kind == .slack ? SlackMessage.body(m) : DiscordMessage.body(m), to: url, headers: [])
        }
    }

    func mail(_ m: AlertMessage, to recipients: [String]) async -> DeliveryOutcome {
        guard let mailer else {
            return .failed(status: nil, error: "mail is not configured: set TALLY_SMTP_URL")
        }
        let subject = AlertEmail.subject(m), text = AlertEmail.text(m), html = AlertEmail.html(m)
        // One mail per recipient (the mailer's unit); a retry sends to all of them again (at least once).
        for address in recipients {
            do {
                try await mailer.send(MailMessage(to: address, subject: subject, text: text, html: html))
            } catch let error as SMTPError {
                let reason = Self.category(error)
                switch error {
                case .connection: return .retry(status: nil, error: reason)
                case .rejected(_, let code, _) where (400..<500).contains(code):
                    return .retry(status: nil, error: reason)
                case .rejected, .configuration: return .failed(status: nil, error: reason)
                }
            } catch {
                return .retry(status: nil, error: "mail could not be sent")
            }
        }
        return .delivered(status: nil)
    }

    func post(_ body: String, to url: String, headers: [(String, String)]) async -> DeliveryOutcome {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Tally-Alerts/1")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
        } catch let refused as UpstreamRefused {
            // A name that no longer resolves may again later; an address the policy refuses will not change. The
            // refusal's own text names the host (and its addresses), which viewers of the delivery log must not see.
            return refused.privateAddress
                ? .failed(
                    status: nil,
                    error: "the receiver's address is private; Tally calls no such address unless "
                        + "TALLY_ALLOW_PRIVATE_UPSTREAMS allows it")
                : .retry(status: nil, error: "the receiver's URL is unusable or its host could not be resolved")
        } catch let error as HTTPClientError
            where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout
        {
            return .retry(
                status: nil, error: "the receiver did not answer within \(timeout.nanoseconds / 1_000_000_000) s")
        } catch {
            return .retry(status: nil, error: "the receiver could not be reached")
        }
        // Read (a little of) the answer so the connection can be reused; its content is not kept.
        _ = try? await response.body.collect(upTo: 64 * 1024)
        let code = Int(response.status.code)
        switch code {
        case 200..<300: return .delivered(status: code)
        case 429, 500..<600:
            // Retry-After in seconds (the HTTP-date form is rare for webhooks and is then left to the backoff).
            let after = response.headers.first(name: "Retry-After").flatMap {
                Int64($0.trimmingCharacters(in: .whitespaces))
            }
            return .retry(status: code, error: "the receiver answered HTTP \(code)", after: after.map { max(0, $0) })
        case 300..<400:
            return .failed(status: code, error: "the receiver answered HTTP \(code) (redirects are not followed)")
        default: return .failed(status: code, error: "the receiver answered HTTP \(code)")
        }
    }

    /// What went wrong with the mail, as a category: the mailer's own text quotes the recipient (`RCPT TO:<…>`), the
    /// server's reply and its host and port, and the delivery log is shown to every member of the organization.
    static func category(_ error: SMTPError) -> String {
        switch error {
        case .connection: return "the mail server could not be reached"
        case .configuration: return "the mail configuration (TALLY_SMTP_URL) or a recipient address is unusable"
        case .rejected(let command, let code, _):
            let refused = command.uppercased().hasPrefix("RCPT") ? "a recipient" : "the message"
            return "the mail server refused \(refused) (\(code))"
        }
    }
}
