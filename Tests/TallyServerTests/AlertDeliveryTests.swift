import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import TallyCore
import TallyMail
import TallyStoreSQL
import TallyStoreSQLite
import TallyTestSupport
import Testing

@testable import TallyServices

/// The deliverer over a real SQLite store, sending to a real receiver on a loopback port.
@Suite struct AlertDeliveryTests {
    struct Setup {
        let store: SQLiteStore
        let deliverer: AlertDeliverer<SQLiteStore>
        let vault: Vault
    }

    static func setup(_ body: (Setup) async throws -> Void, mailer: (any Mailer)? = nil) async throws {
        let temporary = try await TemporarySQLiteStore.make(prefix: "tally-alerts")
        defer { temporary.remove() }
        _ = try await temporary.store.defaultOrganization(timeZone: "UTC")
        let policy = UpstreamAddressPolicy(allowance: try UpstreamAllowance.parse("127.0.0.0/8").get())
        let http = UpstreamHTTP(policy: policy)
        let vault = Vault(master: .generate())
        let deliverer = AlertDeliverer(
            store: temporary.store, sender: AlertSender(http: http, mailer: mailer, timeout: .seconds(5)), vault: vault,
            publicURL: "https://tally.example.com", retry: AlertRetryPolicy(baseSeconds: 1),
            logger: Logger(label: "test"))
        try await body(Setup(store: temporary.store, deliverer: deliverer, vault: vault))
        try await http.shutdown()
    }

    static func record(_ store: SQLiteStore, channel: String, firedAt: Instant = .now) async throws -> (
        Alert, AlertDelivery
    ) {
        let alert = Alert(
            id: Identifier.make("al"), organizationID: "org_default", type: .spike, dedupeKey: Identifier.make("k"),
            firedAt: firedAt, rule: "spike", scope: [.feature: ["search"]],
            figures: AlertFigures(
                spent: USD(decimal: "12.5"), amount: USD(decimal: "4"), percent: "312.50", threshold: 100,
                summary: "Spend on feature search today is 312.50% of its 7-day daily average"))
        let delivery = AlertDelivery(
            id: Identifier.make("dl"), organizationID: "org_default", alertID: alert.id, channelID: channel,
            nextAttemptAt: firedAt, createdAt: firedAt)
        #expect(try await store.recordAlert(alert, deliveries: [delivery]))
        return (alert, delivery)
    }

    static func webhook(_ s: Setup, port: Int, secret: String?) async throws -> AlertChannel {
        let id = Identifier.make("ch")
        let channel = AlertChannel(
            id: id, organizationID: "org_default", name: "Hook", kind: .webhook,
            targets: ["http://127.0.0.1:\(port)/alerts"],
            sealedSecret: try secret.map {
                try s.vault.sealChannelSecret($0, organizationID: "org_default", channelID: id)
            },
            createdAt: .now, updatedAt: .now)
        try await s.store.createAlertChannel(
            channel, audit: .make(organizationID: "org_default", actor: "t", action: "x"))
        return channel
    }

    /// 500, 500, then 200: three attempts, each with the alert's id and a valid signature, and one delivery.
    @Test func aWebhookIsRetriedUntilItIsAccepted() async throws {
        let receiver = ScriptedReceiver([500, 503])
        try await receiver.application().test(.live) { live in
            let port = try #require(live.port)
            try await Self.setup { s in
                let channel = try await Self.webhook(s, port: port, secret: "whsec_1")
                let (alert, _) = try await Self.record(s.store, channel: channel.id)
                var now = Instant.now
                for attempt in 1...3 {
                    #expect(await s.deliverer.deliverDue(now: now) == 1)
                    // Not due again before its backoff.
                    #expect(await s.deliverer.deliverDue(now: now) == 0)
                    let log = try await s.store.deliveries(organizationID: "org_default", alertID: alert.id)
                    #expect(log.count == 1 && log[0].attempts == attempt)
                    #expect(log[0].status == (attempt < 3 ? .pending : .delivered))
                    #expect(
                        log[0].lastError
                            == (attempt == 1
                                ? "the receiver answered HTTP 500"
                                : attempt == 2 ? "the receiver answered HTTP 503" : nil))
                    now = log[0].nextAttemptAt.adding(seconds: 1)
                }
                #expect(receiver.requests.count == 3)
                for r in receiver.requests {
                    #expect(r.headers["x-tally-alert-id"] == alert.id)
                    let t = Int64(String(r.headers["x-tally-signature"]!.split(separator: ",")[0].dropFirst(2)))!
                    #expect(
                        r.headers["x-tally-signature"]
                            == AlertWebhookPayload.signature(secret: "whsec_1", body: r.body, at: Instant(seconds: t)))
                    #expect(r.body.contains(#""rule":"spike""#) && r.body.contains(#""spent_usd":"12.50""#))
                    #expect(r.body.contains("feature=search"))
                }
            }
        }
    }

    /// A 404 is final at once; a delivery whose channel is gone fails with "channel deleted".
    @Test func whatRetryingCannotFixFailsAtOnce() async throws {
        let receiver = ScriptedReceiver([404])
        try await receiver.application().test(.live) { live in
            let port = try #require(live.port)
            try await Self.setup { s in
                let channel = try await Self.webhook(s, port: port, secret: nil)
                let (alert, _) = try await Self.record(s.store, channel: channel.id)
                #expect(await s.deliverer.deliverDue(now: .now) == 1)
                let log = try await s.store.deliveries(organizationID: "org_default", alertID: alert.id)
                #expect(
                    log[0].status == .failed && log[0].attempts == 1
                        && log[0].lastError == "the receiver answered HTTP 404")
                #expect(receiver.requests.first?.headers["x-tally-signature"] == nil)

                let (orphan, _) = try await Self.record(s.store, channel: "ch_gone")
                #expect(await s.deliverer.deliverDue(now: .now) == 1)
                let orphanLog = try await s.store.deliveries(organizationID: "org_default", alertID: orphan.id)
                #expect(orphanLog[0].status == .failed && orphanLog[0].lastError == "channel deleted")
            }
        }
    }

    /// A receiver that is not listening is retried, not failed; the error names no path.
    @Test func anUnreachableReceiverIsRetried() async throws {
        try await Self.setup { s in
            let channel = try await Self.webhook(s, port: 9, secret: nil)
            let (alert, _) = try await Self.record(s.store, channel: channel.id)
            #expect(await s.deliverer.deliverDue(now: .now) == 1)
            let log = try await s.store.deliveries(organizationID: "org_default", alertID: alert.id)
            #expect(log[0].status == .pending && log[0].attempts == 1)
            #expect(
                log[0].lastError?.contains("could not be reached") == true
                    || log[0].lastError?.contains("did not answer") == true)
            #expect(log[0].lastError == "the receiver could not be reached")
        }
    }

    /// A webhook at an address the policy refuses fails for good; the error names neither the host nor the path.
    @Test func aRefusedAddressFailsWithoutNamingIt() async throws {
        try await Self.setup { s in
            let channel = AlertChannel(
                id: "ch_private", organizationID: "org_default", name: "Hook", kind: .webhook,
                targets: ["http://10.1.2.3/hooks/secret-path"], sealedSecret: nil, createdAt: .now, updatedAt: .now)
            try await s.store.createAlertChannel(
                channel, audit: .make(organizationID: "org_default", actor: "t", action: "x"))
            let (alert, _) = try await Self.record(s.store, channel: channel.id)
            #expect(await s.deliverer.deliverDue(now: .now) == 1)
            let log = try await s.store.deliveries(organizationID: "org_default", alertID: alert.id)
            #expect(log[0].status == .failed)
            #expect(log[0].lastError?.hasPrefix("the receiver's address is private") == true)
            #expect(log[0].lastError?.contains("10.1.2.3") == false)
        }
    }

    /// An SMTP server that is down: the delivery stays pending with the mailer's error, to be tried again.
    @Test func mailToAnSMTPServerThatIsDownIsRetried() async throws {
        let mailer = SMTPMailer(
            configuration: try SMTPConfiguration.parse("smtp://127.0.0.1:9?from=tally@example.com"),
            logger: Logger(label: "test"), timeout: .seconds(5))
        try await Self.setup(
            { s in
                let channel = AlertChannel(
                    id: "ch_mail", organizationID: "org_default", name: "Mail", kind: .email,
                    targets: ["a@example.com"],
                    sealedSecret: nil, createdAt: .now, updatedAt: .now)
                try await s.store.createAlertChannel(
                    channel, audit: .make(organizationID: "org_default", actor: "t", action: "x"))
                let (alert, _) = try await Self.record(s.store, channel: channel.id)
                #expect(await s.deliverer.deliverDue(now: .now) == 1)
                let log = try await s.store.deliveries(organizationID: "org_default", alertID: alert.id)
                // A category only: the mailer's text names the host and port, which viewers must not see.
                #expect(log[0].status == .pending && log[0].lastError == "the mail server could not be reached")
            }, mailer: mailer)
    }

    /// What `SMTPMailer` throws when the server answers RCPT TO with 550 (its text quotes the recipient).
    struct RefusingMailer: Mailer {
        func send(_ message: MailMessage) async throws {
            throw SMTPError.rejected(
                command: "RCPT TO:<\(message.to)>", code: 550, reply: "5.1.1 <\(message.to)>: no such user")
        }
    }

    /// A refused recipient fails the delivery with a category; the log shows no address.
    @Test func aRefusedRecipientIsNotShownInTheLog() async throws {
        try await Self.setup(
            { s in
                let channel = AlertChannel(
                    id: "ch_mail", organizationID: "org_default", name: "Mail", kind: .email,
                    targets: ["alice@example.com"], sealedSecret: nil, createdAt: .now, updatedAt: .now)
                try await s.store.createAlertChannel(
                    channel, audit: .make(organizationID: "org_default", actor: "t", action: "x"))
                let (alert, _) = try await Self.record(s.store, channel: channel.id)
                #expect(await s.deliverer.deliverDue(now: .now) == 1)
                let log = try await s.store.deliveries(organizationID: "org_default", alertID: alert.id)
                #expect(log[0].status == .failed)
                #expect(log[0].lastError == "the mail server refused a recipient (550)")
            }, mailer: RefusingMailer())
    }

    /// A secret sealed for another channel does not open: the delivery fails saying so, and nothing is sent.
    @Test func aSecretThatDoesNotOpenFailsClearly() async throws {
        let receiver = ScriptedReceiver()
        try await receiver.application().test(.live) { live in
            let port = try #require(live.port)
            try await Self.setup { s in
                var channel = try await Self.webhook(s, port: port, secret: nil)
                channel.sealedSecret = try s.vault.sealChannelSecret(
                    "x", organizationID: "org_default", channelID: "ch_other")
                try await s.store.updateAlertChannel(
                    channel, audit: .make(organizationID: "org_default", actor: "t", action: "x"))
                let (alert, _) = try await Self.record(s.store, channel: channel.id)
                #expect(await s.deliverer.deliverDue(now: .now) == 1)
                let log = try await s.store.deliveries(organizationID: "org_default", alertID: alert.id)
                #expect(
                    log[0].status == .failed
                        && log[0].lastError?.hasPrefix("the channel's secret cannot be opened") == true)
                #expect(receiver.requests.isEmpty)
            }
        }
    }
}
