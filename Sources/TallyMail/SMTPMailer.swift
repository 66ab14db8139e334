import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import TallyCore

/// Sends mail through an SMTP relay (RFC 5321) with SwiftNIO: one connection per message.
///
/// Dialogue: greeting (220) → EHLO (HELO if EHLO is refused) → [STARTTLS → EHLO] → [AUTH PLAIN, or
/// AUTH LOGIN when PLAIN is not offered] → MAIL FROM → RCPT TO → DATA → QUIT. The whole send is bounded by
/// `timeout` (30 s by default). Credentials are never logged and never appear in an `SMTPError`.
public struct SMTPMailer: Mailer {
    public let configuration: SMTPConfiguration
    /// Upper bound for one `send`, from connecting to the server's acceptance of the message.
    public let timeout: Duration
    private let logger: Logger
    private let eventLoopGroup: any EventLoopGroup
    private let tls: TLSContextCache

    /// - Parameters:
    ///   - tlsConfiguration: for `.startTLS`/`.tls`; defaults to `TLSConfiguration.makeClientConfiguration()`
    ///     (system trust roots, full certificate and host name verification). Pass your own to trust a
    ///     private CA.
    ///   - eventLoopGroup: defaults to `MultiThreadedEventLoopGroup.singleton`.
    public init(
        configuration: SMTPConfiguration,
        logger: Logger,
        timeout: Duration = .seconds(30),
        tlsConfiguration: TLSConfiguration? = nil,
        eventLoopGroup: (any EventLoopGroup)? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        self.timeout = timeout
        self.eventLoopGroup = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        self.tls = TLSContextCache(configuration: tlsConfiguration ?? .makeClientConfiguration())
    }

    /// A mailer whose TLS trusts exactly the certificates in `trustRootsPEMFile` (a private CA of the relay; what
    /// `TALLY_SMTP_CA_FILE` names) instead of the system's roots; `nil` keeps the system's. Certificate and host name
    /// checks stay on either way. Throws `SMTPError.configuration` when the file cannot be read or holds no certificate,
    /// so a wrong path stops start-up instead of failing every mail later.
    public init(
        configuration: SMTPConfiguration,
        logger: Logger,
        timeout: Duration = .seconds(30),
        trustRootsPEMFile: String?
    ) throws {
        var tls: TLSConfiguration?
        if let path = trustRootsPEMFile {
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(path)
            } catch {
                throw SMTPError.configuration("cannot read PEM certificates from \(path): \(error)")
            }
            guard !certificates.isEmpty else {
                throw SMTPError.configuration("\(path) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
            }
            var client = TLSConfiguration.makeClientConfiguration()
            client.trustRoots = .certificates(certificates)
            tls = client
        }
        self.init(configuration: configuration, logger: logger, timeout: timeout, tlsConfiguration: tls)
    }

    public func send(_ message: MailMessage) async throws {
        try Self.validate(message)
        try SMTPConfiguration.validateAddress(configuration.from, role: "from address")
        try SMTPConfiguration.validateHeloName(configuration.heloName)
        guard !configuration.host.isEmpty, (1...65535).contains(configuration.port) else {
            throw SMTPError.configuration("the SMTP host is empty or the port is out of range")
        }

        let state = DeliveryState()
        let timeout = self.timeout
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await self.deliver(message, state: state)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                // Accepted but still saying goodbye: that is a success, not a timeout.
                if state.isAccepted { return }
                throw SMTPError.connection("timed out after \(Self.format(timeout))")
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    // MARK: - Connection

    private func deliver(_ message: MailMessage, state: DeliveryState) async throws {
        let configuration = self.configuration
        var logger = self.logger
        logger[metadataKey: "smtp.server"] = "\(configuration.host):\(configuration.port)"

        let sslContext: NIOSSLContext? = configuration.security == .plain ? nil : try tls.context()
        let serverHostname = Self.tlsServerHostname(configuration.host)

        let channel: NIOAsyncChannel<SMTPInbound, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(.seconds(min(10, max(1, timeout.components.seconds))))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if configuration.security == .tls, let sslContext {
                            let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
                            try channel.pipeline.syncOperations.addHandler(handler)
                        }
                        try channel.pipeline.syncOperations.addHandler(SMTPInboundFramer())
                        return try NIOAsyncChannel<SMTPInbound, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw SMTPError.connection("cannot connect to \(configuration.host):\(configuration.port): \(error)")
        }
        logger.debug("SMTP connected", metadata: ["smtp.security": "\(configuration.security.rawValue)"])

        try await withTaskCancellationHandler {
            try await channel.executeThenClose { inbound, outbound in
                var session = SMTPSession(
                    configuration: configuration,
                    channel: channel.channel,
                    inbound: inbound.makeAsyncIterator(),
                    outbound: outbound,
                    logger: logger,
                    sslContext: sslContext,
                    serverHostname: serverHostname
                )
                try await session.run(message, state: state)
            }
        } onCancel: {
            channel.channel.close(promise: nil)
        }
    }

    /// SNI and certificate name: a host name; `nil` for IP literals (NIOSSL then checks the peer's IP).
    static func tlsServerHostname(_ host: String) -> String? {
        (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
    }

    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return attoseconds == 0 ? "\(seconds) s" : "\(Double(seconds) + Double(attoseconds) / 1e18) s"
    }
}

// MARK: - Reply parsing

/// One SMTP reply, possibly multi-line (`250-first`, `250-second`, `250 last`).
struct SMTPReply: Equatable, Sendable {
    var code: Int
    var lines: [String]

    /// The text of all lines (without the codes), joined by " / ".
    var text: String { lines.joined(separator: " / ") }

    /// Incremental parser: feed lines (without CRLF) until it returns a reply.
    struct Parser {
        private var code: Int?
        private var lines: [String] = []

        /// - Returns: the complete reply after its last line, `nil` while more lines are expected.
        mutating func feed(_ line: String) throws -> SMTPReply? {
            let utf8 = Array(line.utf8)
            guard utf8.count >= 3, utf8[0...2].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                utf8[0] >= UInt8(ascii: "2"), utf8[0] <= UInt8(ascii: "5")
            else {
                throw SMTPError.connection("malformed reply from server: \(Self.excerpt(line))")
            }
            let lineCode = Int(utf8[0] - 48) * 100 + Int(utf8[1] - 48) * 10 + Int(utf8[2] - 48)
            let separator: UInt8? = utf8.count > 3 ? utf8[3] : nil
            guard separator == nil || separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else {
                throw SMTPError.connection("malformed reply from server: \(Self.excerpt(line))")
            }
            if let code, code != lineCode {
                throw SMTPError.connection("inconsistent codes in a multi-line reply (\(code), then \(lineCode))")
            }
            guard lines.count < 1_000 else { throw SMTPError.connection("reply from server has too many lines") }
            code = lineCode
            lines.append(utf8.count > 4 ? String(decoding: utf8[4...], as: UTF8.self) : "")
            if separator == UInt8(ascii: "-") { return nil }
            defer { self = Parser() }
            return SMTPReply(code: lineCode, lines: lines)
        }

        static func excerpt(_ line: String) -> String {
            let clean = String(
                String.UnicodeScalarView(
                    line.unicodeScalars.prefix(80).map {
                        $0.value < 0x20 || $0.value == 0x7F ? "?" : $0
                    }))
            return "\"\(clean)\""
        }
    }
}

/// The extensions an EHLO reply advertises: keyword (upper-cased) → parameters.
struct SMTPExtensions: Equatable, Sendable {
    var keywords: [String: [String]] = [:]

    init() {}

    init(ehloReply reply: SMTPReply) {
        for line in reply.lines.dropFirst() {
            // "AUTH PLAIN LOGIN", and the pre-RFC form "AUTH=PLAIN LOGIN".
            let normalized = line.hasPrefix("AUTH=") || line.hasPrefix("auth=") ? "AUTH " + line.dropFirst(5) : line
            let parts = normalized.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { String($0).uppercased() }
            guard let keyword = parts.first else { continue }
            keywords[keyword, default: []] += parts.dropFirst()
        }
    }

    func supports(_ keyword: String) -> Bool { keywords[keyword] != nil }

    var authMechanisms: Set<String> { Set(keywords["AUTH"] ?? []) }
}

// MARK: - Pipeline pieces

/// What the session reads: bytes, or the marker that TLS now sits in front of them.
enum SMTPInbound: Sendable {
    case bytes(ByteBuffer)
    /// Sent on the event loop in the same step that inserts the TLS handler: every byte before it arrived
    /// in plain text, every byte after it came through TLS.
    case tlsStarted
}

final class SMTPInboundFramer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = SMTPInbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(wrapInboundOut(.bytes(unwrapInboundIn(data))))
    }
}

/// One `NIOSSLContext` per mailer, made on first use (it loads the trust roots from disk).
final class TLSContextCache: Sendable {
    private let configuration: TLSConfiguration
    private let cached = Mutex<NIOSSLContext?>(nil)

    init(configuration: TLSConfiguration) {
        self.configuration = configuration
    }

    func context() throws -> NIOSSLContext {
        try cached.withLock { cached in
            if let cached { return cached }
            do {
                let context = try NIOSSLContext(configuration: configuration)
                cached = context
                return context
            } catch {
                throw SMTPError.configuration("invalid TLS configuration: \(error)")
            }
        }
    }
}

final class DeliveryState: Sendable {
    private let accepted = Mutex(false)
    var isAccepted: Bool { accepted.withLock { $0 } }
    func markAccepted() { accepted.withLock { $0 = true } }
}

// MARK: - Session

/// The SMTP dialogue over one connection. Lives inside `executeThenClose`; not shared across tasks.
struct SMTPSession {
    let configuration: SMTPConfiguration
    let channel: any Channel
    var inbound: NIOAsyncChannelInboundStream<SMTPInbound>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let logger: Logger
    let sslContext: NIOSSLContext?
    let serverHostname: String?
    private var buffer = ByteBuffer()
    private var secrets: [String] = []

    init(
        configuration: SMTPConfiguration,
        channel: any Channel,
        inbound: NIOAsyncChannelInboundStream<SMTPInbound>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        logger: Logger,
        sslContext: NIOSSLContext?,
        serverHostname: String?
    ) {
        self.configuration = configuration
        self.channel = channel
        self.inbound = inbound
        self.outbound = outbound
        self.logger = logger
        self.sslContext = sslContext
        self.serverHostname = serverHostname
        if let password = configuration.password, !password.isEmpty {
            secrets = [password, Data(password.utf8).base64EncodedString()]
        }
    }

    mutating func run(_ message: MailMessage, state: DeliveryState) async throws {
        let greeting = try await readReply(after: "connection greeting")
        guard greeting.code == 220 else {
            throw rejected("connection greeting", greeting)
        }

        var extensions = try await hello(allowHELO: true)

        if configuration.security == .startTLS {
            guard extensions.supports("STARTTLS") else {
                throw SMTPError.connection("the server does not offer STARTTLS; refusing to continue without TLS")
            }
            try await command("STARTTLS", expect: [220])
            try await startTLS()
            extensions = try await hello(allowHELO: false)
        }

        if let username = configuration.username {
            try await authenticate(username: username, password: configuration.password ?? "", extensions: extensions)
        }

        // Envelope and body.
        // A multipart mail's parts are quoted-printable (7-bit safe), so it needs no 8BITMIME.
        var encoding =
            message.html == nil && message.attachments.isEmpty
            ? SMTPMailer.preferredTransferEncoding(for: message.text) : .quotedPrintable
        if encoding == .eightBit, !extensions.supports("8BITMIME") { encoding = .quotedPrintable }
        var mailParameters = ""
        if encoding == .eightBit { mailParameters += " BODY=8BITMIME" }
        let needsUTF8 = !(configuration.from + message.to).utf8.allSatisfy { $0 < 0x80 }
        if needsUTF8 {
            guard extensions.supports("SMTPUTF8") else {
                throw SMTPError.configuration(
                    "an address contains non-ASCII characters but the server does not support SMTPUTF8")
            }
            mailParameters += " SMTPUTF8"
        }

        let rendered = SMTPMailer.render(
            message,
            from: configuration.from,
            // Instant.now, not Date(): the one wall clock, which tests may shift (TALLY_CLOCK_OFFSET_SECONDS).
            date: Date(timeIntervalSince1970: Double(Instant.now.microseconds) / 1_000_000),
            messageID: SMTPMailer.makeMessageID(from: configuration.from),
            transferEncoding: encoding
        )
        let payload = SMTPMailer.dotStuffed(rendered)

        try await command("MAIL FROM:<\(configuration.from)>\(mailParameters)", expect: [250])
        try await command("RCPT TO:<\(message.to)>", expect: [250, 251])
        try await command("DATA", expect: [354])
        logger.trace("C: <message, \(payload.utf8.count) bytes>")
        try await write(payload)
        let accepted = try await readReply(after: "DATA (end of message)")
        guard accepted.code == 250 else { throw rejected("DATA (end of message)", accepted) }
        state.markAccepted()
        logger.debug("SMTP message accepted", metadata: ["smtp.reply": "\(redact(accepted.text))"])

        // Be polite, but never fail (or wait long) once the message is accepted.
        let closer = channel.eventLoop.scheduleTask(in: .seconds(5)) { [channel] in channel.close(promise: nil) }
        defer { closer.cancel() }
        do {
            try await command("QUIT", expect: [221])
        } catch {
            logger.debug("SMTP QUIT failed after delivery (ignored)", metadata: ["error": "\(error)"])
        }
    }

    // MARK: steps

    /// EHLO, falling back to HELO (no extensions) when the server refuses EHLO with 5xx.
    private mutating func hello(allowHELO: Bool) async throws -> SMTPExtensions {
        let ehlo = "EHLO \(configuration.heloName)"
        try await write(ehlo + "\r\n", logAs: ehlo)
        let reply = try await readReply(after: "EHLO")
        if reply.code == 250 { return SMTPExtensions(ehloReply: reply) }
        guard allowHELO, (500..<600).contains(reply.code) else { throw rejected(ehlo, reply) }
        logger.debug("SMTP server refused EHLO, trying HELO", metadata: ["smtp.reply": "\(reply.code)"])
        try await command("HELO \(configuration.heloName)", expect: [250])
        return SMTPExtensions()
    }

    /// Puts a `NIOSSLClientHandler` in front of the pipeline and waits for the marker that separates
    /// plain-text bytes from TLS bytes. Anything the server sent in plain text after its 220 is an
    /// injection attempt (cf. CVE-2011-0411) and aborts the session.
    private mutating func startTLS() async throws {
        guard buffer.readableBytes == 0 else {
            throw SMTPError.connection("the server sent unexpected data after its STARTTLS reply")
        }
        guard let sslContext else { throw SMTPError.configuration("TLS context missing") }
        let serverHostname = self.serverHostname
        let channel = self.channel
        do {
            try await channel.eventLoop.submit {
                let sync = channel.pipeline.syncOperations
                let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
                try sync.addHandler(handler, position: .first)
                let framer = try sync.context(handlerType: SMTPInboundFramer.self)
                framer.fireChannelRead(NIOAny(SMTPInbound.tlsStarted))
                framer.fireChannelReadComplete()
            }.get()
        } catch {
            throw SMTPError.connection("cannot start TLS: \(error)")
        }
        while true {
            let next: SMTPInbound?
            do {
                next = try await inbound.next()
            } catch {
                throw SMTPError.connection("TLS failed: \(error)")
            }
            switch next {
            case .tlsStarted?:
                logger.debug("SMTP STARTTLS: TLS handler installed")
                return
            case .bytes(let bytes)? where bytes.readableBytes == 0:
                continue
            case .bytes?:
                throw SMTPError.connection("the server sent unexpected data after its STARTTLS reply")
            case nil:
                throw SMTPError.connection("the server closed the connection during STARTTLS")
            }
        }
    }

    private mutating func authenticate(username: String, password: String, extensions: SMTPExtensions) async throws {
        if configuration.security == .plain, !Self.isLoopback(configuration.host) {
            logger.warning("SMTP credentials are sent without TLS; use smtps:// or ?starttls=true")
        }
        let mechanisms = extensions.authMechanisms
        if mechanisms.contains("PLAIN") {
            let token = Data(([0] + Array(username.utf8) + [0] + Array(password.utf8))).base64EncodedString()
            secrets.append(token)
            try await write("AUTH PLAIN \(token)\r\n", logAs: "AUTH PLAIN <redacted>")
            var reply = try await readReply(after: "AUTH PLAIN")
            if reply.code == 334 {  // server ignored the initial response and asks for it
                try await write("\(token)\r\n", logAs: "<redacted>")
                reply = try await readReply(after: "AUTH PLAIN")
            }
            guard reply.code == 235 else { throw rejected("AUTH PLAIN", reply) }
        } else if mechanisms.contains("LOGIN") {
            let user = Data(username.utf8).base64EncodedString()
            let secret = Data(password.utf8).base64EncodedString()
            secrets.append(secret)
            try await write("AUTH LOGIN\r\n", logAs: "AUTH LOGIN")
            var reply = try await readReply(after: "AUTH LOGIN")
            guard reply.code == 334 else { throw rejected("AUTH LOGIN", reply) }
            try await write("\(user)\r\n", logAs: "<user name>")
            reply = try await readReply(after: "AUTH LOGIN")
            guard reply.code == 334 else { throw rejected("AUTH LOGIN (user name)", reply) }
            try await write("\(secret)\r\n", logAs: "<redacted>")
            reply = try await readReply(after: "AUTH LOGIN")
            guard reply.code == 235 else { throw rejected("AUTH LOGIN (password)", reply) }
        } else if mechanisms.isEmpty {
            let hint =
                configuration.security == .plain
                ? " (many servers offer AUTH only over TLS: try smtps:// or ?starttls=true)" : ""
            throw SMTPError.connection("the server does not offer AUTH\(hint)")
        } else {
            throw SMTPError.connection(
                "the server offers none of the AUTH mechanisms PLAIN or LOGIN (it offers \(mechanisms.sorted().joined(separator: " ")))"
            )
        }
        logger.debug("SMTP authenticated")
    }

    // MARK: I/O

    @discardableResult
    private mutating func command(_ line: String, expect codes: Set<Int>) async throws -> SMTPReply {
        try await write(line + "\r\n", logAs: line)
        let reply = try await readReply(after: line)
        guard codes.contains(reply.code) else { throw rejected(line, reply) }
        return reply
    }

    private mutating func write(_ text: String, logAs: String? = nil) async throws {
        if let logAs { logger.trace("C: \(logAs)") }
        do {
            try await outbound.write(ByteBuffer(string: text))
        } catch {
            // The first write after STARTTLS races the handshake: when the server's certificate is refused, the channel
            // closes and the write only says "I/O on closed channel", while the reason waits in the inbound stream.
            // Report that reason (issue 25: an untrusted relay logged no word of its certificate).
            if let cause = await closingError() { throw cause }
            throw SMTPError.connection("cannot send to the server: \(error)")
        }
    }

    /// The error the inbound stream ended with, if it ended with one (the channel is closed: this does not wait long).
    private mutating func closingError() async -> SMTPError? {
        do {
            while try await inbound.next() != nil {}
        } catch {
            return connectionError(error, waitingFor: nil)
        }
        return nil
    }

    private func connectionError(_ error: any Error, waitingFor command: String?) -> SMTPError {
        if error is NIOSSLError || error is NIOSSLExtraError {
            return SMTPError.connection("TLS with \(configuration.host) failed: \(error)")
        }
        guard let command else { return SMTPError.connection("connection failed: \(error)") }
        return SMTPError.connection(
            "connection failed while waiting for the reply to \(redactedCommand(command)): \(error)")
    }

    private mutating func readReply(after command: String) async throws -> SMTPReply {
        var parser = SMTPReply.Parser()
        while true {
            let line = try await readLine(after: command)
            logger.trace("S: \(redact(line))")
            if let reply = try parser.feed(line) { return reply }
        }
    }

    private mutating func readLine(after command: String) async throws -> String {
        while true {
            if let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let length = newline - buffer.readerIndex
                var bytes = buffer.readBytes(length: length) ?? []
                buffer.moveReaderIndex(forwardBy: 1)
                if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
                if buffer.readableBytes == 0 { buffer.clear() }
                return String(decoding: bytes, as: UTF8.self)
            }
            guard buffer.readableBytes <= 4_096 else {
                throw SMTPError.connection("reply line from server is too long")
            }
            let next: SMTPInbound?
            do {
                next = try await inbound.next()
            } catch {
                throw connectionError(error, waitingFor: command)
            }
            switch next {
            case .bytes(var bytes)?:
                buffer.writeBuffer(&bytes)
            case .tlsStarted?:
                continue
            case nil:
                throw SMTPError.connection(
                    "the server closed the connection while we waited for the reply to \(redactedCommand(command))")
            }
        }
    }

    // MARK: redaction

    private func rejected(_ command: String, _ reply: SMTPReply) -> SMTPError {
        .rejected(command: redactedCommand(command), code: reply.code, reply: redact(reply.text))
    }

    private func redactedCommand(_ command: String) -> String {
        redact(command)
    }

    /// Removes the password and every encoding of it we sent from text that goes into logs or errors.
    private func redact(_ text: String) -> String {
        var text = text
        for secret in secrets where !secret.isEmpty {
            text = text.replacing(secret, with: "<redacted>")
        }
        return text
    }

    private static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}
