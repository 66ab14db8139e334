import Foundation
import Logging
import Testing

@testable import TallyMail

private let secret = "Sup3rSecretPW"

@Suite("SMTPConfiguration.parse")
struct SMTPConfigurationParseTests {
    @Test func smtpDefaults() throws {
        let config = try SMTPConfiguration.parse("smtp://mail.example.com")
        #expect(
            config
                == SMTPConfiguration(
                    host: "mail.example.com", port: 25, username: nil, password: nil,
                    from: "tally@mail.example.com", security: .plain, heloName: "localhost"
                )
        )
    }

    @Test func smtpsDefaultsToImplicitTLSOnPort465() throws {
        let config = try SMTPConfiguration.parse("smtps://mail.example.com")
        #expect(config.security == .tls)
        #expect(config.port == 465)
        #expect(config.from == "tally@mail.example.com")
    }

    @Test func explicitPortAndTrailingSlashAndUppercaseScheme() throws {
        let config = try SMTPConfiguration.parse("  SMTP://mail.example.com:2525/ \n")
        #expect(config.port == 2525)
        #expect(config.host == "mail.example.com")
        #expect(config.security == .plain)
    }

    @Test func startTLSFromQueryOrPort587() throws {
        #expect(try SMTPConfiguration.parse("smtp://mail.example.com?starttls=true").security == .startTLS)
        #expect(try SMTPConfiguration.parse("smtp://mail.example.com?starttls=1").port == 25)
        #expect(try SMTPConfiguration.parse("smtp://mail.example.com:587").security == .startTLS)
        #expect(try SMTPConfiguration.parse("smtp://mail.example.com:587?starttls=false").security == .plain)
        #expect(try SMTPConfiguration.parse("smtp://mail.example.com:2525?STARTTLS=TRUE").security == .startTLS)
        #expect(try SMTPConfiguration.parse("smtps://mail.example.com:587").security == .tls)
    }

    @Test func percentDecodedCredentials() throws {
        let config = try SMTPConfiguration.parse(
            "smtps://tally%2Binvites%40example.com:p%40ss%3Aw%2Frd%20%C3%A9!@smtp.example.com:465"
        )
        #expect(config.username == "tally+invites@example.com")
        #expect(config.password == "p@ss:w/rd é!")
        #expect(config.host == "smtp.example.com")
    }

    @Test func lastAtSignSeparatesUserInfo() throws {
        let config = try SMTPConfiguration.parse("smtp://user:p@ss@mail.example.com")
        #expect(config.username == "user")
        #expect(config.password == "p@ss")
        #expect(config.host == "mail.example.com")
    }

    @Test func userWithoutPasswordAndColonInPassword() throws {
        let userOnly = try SMTPConfiguration.parse("smtp://apikey@mail.example.com")
        #expect(userOnly.username == "apikey")
        #expect(userOnly.password == nil)
        let colon = try SMTPConfiguration.parse("smtp://user:a:b@mail.example.com")
        #expect(colon.password == "a:b")
        let anonymous = try SMTPConfiguration.parse("smtp://@mail.example.com")
        #expect(anonymous.username == nil)
    }

    @Test func fromAndHeloParameters() throws {
        let config = try SMTPConfiguration.parse(
            "smtp://mail.example.com?from=invites%2Btally%40example.org&helo=tally.example.org"
        )
        #expect(config.from == "invites+tally@example.org")
        #expect(config.heloName == "tally.example.org")
        // '+' is not form-decoded to a space.
        #expect(try SMTPConfiguration.parse("smtp://h?from=a+b@example.org").from == "a+b@example.org")
    }

    @Test func ipLiteralHosts() throws {
        let v6 = try SMTPConfiguration.parse("smtp://[::1]:2525")
        #expect(v6.host == "::1")
        #expect(v6.port == 2525)
        #expect(v6.from == "tally@[IPv6:::1]")
        let v4 = try SMTPConfiguration.parse("smtp://127.0.0.1")
        #expect(v4.from == "tally@[127.0.0.1]")
        #expect(try SMTPConfiguration.parse("smtp://[::1]").port == 25)
    }

    @Test(arguments: [
        "",
        "mail.example.com",
        "tally:\(secret)@mail.example.com",
        "http://tally:\(secret)@mail.example.com",
        "smtp://tally:\(secret)@",
        "smtp://tally:\(secret)@mail.example.com:0",
        "smtp://tally:\(secret)@mail.example.com:65536",
        "smtp://tally:\(secret)@mail.example.com:25x",
        "smtp://tally:\(secret)@mail.example.com:",
        "smtp://tally:Sup3r/SecretPW@mail.example.com",
        "smtp://tally:Sup3r?SecretPW@mail.example.com",
        "smtp://tally:Sup3r#SecretPW@mail.example.com",
        "smtp://tally:Sup3r%zzSecretPW@mail.example.com",
        "smtp://tally:Sup3rSecretPW%E9@mail.example.com",
        "smtp://:\(secret)@mail.example.com",
        "smtps://tally:\(secret)@mail.example.com?starttls=true",
        "smtp://tally:\(secret)@mail.example.com?starttls=maybe",
        "smtp://tally:\(secret)@mail.example.com?Sup3rSecretPW=1",
        "smtp://tally:\(secret)@mail.example.com/Sup3rSecretPW",
        "smtp://tally:\(secret)@mail.example.com?from=not-an-address",
        "smtp://tally:\(secret)@mail.example.com?from=a%0D%0ABcc:%20x@example.com",
        "smtp://tally:\(secret)@mail.example.com?from=Tally%20%3Ctally@example.com%3E",
        "smtp://tally:\(secret)@mail.example.com?helo=two%20words",
        "smtp://tally:\(secret)@[::1",
        "smtp://tally:\(secret)@[::1]x",
        "smtp://tally:\(secret)@mail example.com",
    ])
    func invalidURLsThrowWithoutLeakingThePassword(url: String) {
        do {
            let config = try SMTPConfiguration.parse(url)
            Issue.record("expected an error for \(url), got \(config)")
        } catch let error as SMTPError {
            guard case .configuration(let reason) = error else {
                Issue.record("expected .configuration, got \(error)")
                return
            }
            #expect(!reason.isEmpty)
            for text in [error.description, String(reflecting: error), "\(error)"] {
                #expect(!text.contains("Secret"), "leaked: \(text)")
                #expect(!text.contains("Sup3r"), "leaked: \(text)")
            }
        } catch {
            Issue.record("unexpected error type \(error)")
        }
    }

    @Test func descriptionsMaskThePassword() throws {
        let config = try SMTPConfiguration.parse("smtps://tally:\(secret)@mail.example.com?from=tally@example.com")
        #expect(
            config.description
                == "smtps://tally:***@mail.example.com:465 (security: tls, from: tally@example.com, helo: localhost)")
        var dumped = ""
        dump(config, to: &dumped)
        for text in ["\(config)", String(reflecting: config), dumped, "\([config])", "\(Optional(config) as Any)"] {
            #expect(!text.contains(secret), "leaked: \(text)")
        }
    }

    @Test func memberwiseInitDefaults() {
        let plain = SMTPConfiguration(host: "mail.example.com")
        #expect(plain.port == 25)
        #expect(plain.from == "tally@mail.example.com")
        let tls = SMTPConfiguration(host: "mail.example.com", security: .tls)
        #expect(tls.port == 465)
    }
}

@Suite("Message formatting")
struct MailFormattingTests {
    let date = Date(timeIntervalSince1970: 1_751_360_703)  // Tue, 01 Jul 2025 09:05:03 UTC

    @Test func rendersHeadersAndBodyWithCRLF() {
        let message = MailMessage(
            to: "bob@example.com", subject: "You're invited",
            text: "Hello Bob,\n\nJoin: https://tally.example.com/invite?t=abc\n")
        let rendered = SMTPMailer.render(message, from: "tally@example.com", date: date, messageID: "abc@example.com")
        #expect(
            rendered == """
                From: tally@example.com\r
                To: bob@example.com\r
                Subject: You're invited\r
                Date: Tue, 01 Jul 2025 09:05:03 +0000\r
                Message-ID: <abc@example.com>\r
                MIME-Version: 1.0\r
                Content-Type: text/plain; charset=utf-8\r
                Content-Transfer-Encoding: 7bit\r
                \r
                Hello Bob,\r
                \r
                Join: https://tally.example.com/invite?t=abc\r

                """
        )
    }

    @Test func normalisesEveryLineEndingToCRLF() {
        let message = MailMessage(to: "bob@example.com", subject: "s", text: "a\r\nb\rc\nd")
        let rendered = SMTPMailer.render(message, from: "t@example.com", date: date, messageID: "<x@y>")
        #expect(rendered.hasSuffix("\r\n\r\na\r\nb\r\nc\r\nd\r\n"))
        #expect(!rendered.replacing("\r\n", with: "").contains("\n"))
        #expect(!rendered.replacing("\r\n", with: "").contains("\r"))
    }

    @Test(arguments: [
        (0.0, "Thu, 01 Jan 1970 00:00:00 +0000"),
        (-1.0, "Wed, 31 Dec 1969 23:59:59 +0000"),
        (1_751_360_703.9, "Tue, 01 Jul 2025 09:05:03 +0000"),
        (1_709_168_461.0, "Thu, 29 Feb 2024 01:01:01 +0000"),
        (951_782_400.0, "Tue, 29 Feb 2000 00:00:00 +0000"),
        (4_102_444_799.0, "Thu, 31 Dec 2099 23:59:59 +0000"),
    ])
    func rfc5322Dates(seconds: Double, expected: String) {
        #expect(SMTPMailer.rfc5322Date(Date(timeIntervalSince1970: seconds)) == expected)
    }

    @Test func nonASCIISubjectBecomesEncodedWords() throws {
        let subject = "Einladung: Grüße von Tally — äöü 🎉🎉 und noch ein paar Wörter, damit es mehrere Wörter werden"
        let rendered = SMTPMailer.render(
            MailMessage(to: "bob@example.com", subject: subject, text: "x"),
            from: "t@example.com", date: date, messageID: "x@y"
        )
        let header = try #require(headerBlock(rendered, name: "Subject"))
        let lines = header.components(separatedBy: "\r\n")
        #expect(lines.count > 1)
        for line in lines {
            #expect(line.utf8.count <= 76, "line too long: \(line)")
            #expect(line.allSatisfy { $0.isASCII })
        }
        #expect(decodeEncodedWords(header) == subject)
    }

    @Test func longASCIISubjectIsFoldedAtSpaces() throws {
        let subject = Array(repeating: "invitation", count: 20).joined(separator: " ")
        let rendered = SMTPMailer.render(
            MailMessage(to: "bob@example.com", subject: subject, text: "x"),
            from: "t@example.com", date: date, messageID: "x@y"
        )
        let header = try #require(headerBlock(rendered, name: "Subject"))
        #expect(header.contains("\r\n "))
        for line in ("Subject: " + header).components(separatedBy: "\r\n") {
            #expect(line.utf8.count <= 78)
        }
        #expect(header.replacing("\r\n", with: "") == subject)  // unfolding restores the value
    }

    @Test func asciiSubjectThatLooksLikeAnEncodedWordIsEncoded() throws {
        let rendered = SMTPMailer.render(
            MailMessage(to: "bob@example.com", subject: "=?utf-8?B?SGk=?=", text: "x"),
            from: "t@example.com", date: date, messageID: "x@y"
        )
        let header = try #require(headerBlock(rendered, name: "Subject"))
        #expect(decodeEncodedWords(header) == "=?utf-8?B?SGk=?=")
    }

    @Test func dotStuffing() {
        let payload = SMTPMailer.dotStuffed(".\n.leading\n..two\nmiddle . dot\nend.")
        #expect(payload == "..\r\n..leading\r\n...two\r\nmiddle . dot\r\nend.\r\n.\r\n")
        #expect(SMTPMailer.dotStuffed("") == ".\r\n")
        #expect(SMTPMailer.dotStuffed("a\r\n") == "a\r\n.\r\n")
    }

    @Test func renderedMessageDotStuffsTheBodyOnly() {
        let message = MailMessage(to: "bob@example.com", subject: "s", text: "first\n.\n.hidden")
        let payload = SMTPMailer.dotStuffed(
            SMTPMailer.render(message, from: "t@example.com", date: date, messageID: "x@y")
        )
        #expect(payload.hasSuffix("\r\n\r\nfirst\r\n..\r\n..hidden\r\n.\r\n"))
        // The only line that is a lone "." is the terminator.
        #expect(payload.components(separatedBy: "\r\n").filter { $0 == "." }.count == 1)
    }

    @Test func transferEncodingChoice() {
        #expect(SMTPMailer.preferredTransferEncoding(for: "plain ascii\n") == .sevenBit)
        #expect(SMTPMailer.preferredTransferEncoding(for: "Grüße\n") == .eightBit)
        #expect(SMTPMailer.preferredTransferEncoding(for: String(repeating: "x", count: 998)) == .sevenBit)
        #expect(SMTPMailer.preferredTransferEncoding(for: String(repeating: "x", count: 999)) == .quotedPrintable)
        #expect(SMTPMailer.preferredTransferEncoding(for: "nul\u{0}") == .quotedPrintable)
    }

    @Test func quotedPrintableBody() throws {
        let text = "Grüße = gut \n" + String(repeating: "abcdefghij", count: 30) + "\n.dot\ttab\t\n"
        let rendered = SMTPMailer.render(
            MailMessage(to: "bob@example.com", subject: "s", text: text),
            from: "t@example.com", date: date, messageID: "x@y", transferEncoding: .quotedPrintable
        )
        #expect(rendered.contains("Content-Transfer-Encoding: quoted-printable\r\n"))
        let body = try #require(rendered.components(separatedBy: "\r\n\r\n").last)
        #expect(body.hasPrefix("Gr=C3=BC=C3=9Fe =3D gut=20\r\n"))
        for line in body.components(separatedBy: "\r\n") {
            #expect(line.utf8.count <= 76, "QP line too long: \(line)")
            #expect(line.allSatisfy { $0.isASCII })
            #expect(!line.hasSuffix(" ") && !line.hasSuffix("\t"))
        }
        #expect(decodeQuotedPrintable(body) == text.replacing("\n", with: "\r\n"))
    }

    @Test func validationRejectsHeaderInjection() {
        let bad: [MailMessage] = [
            MailMessage(to: "bob@example.com\r\nBcc: eve@example.com", subject: "s", text: "x"),
            MailMessage(to: "bob@example.com\n", subject: "s", text: "x"),
            MailMessage(to: "bob@example.com", subject: "Hi\r\nBcc: eve@example.com", text: "x"),
            MailMessage(to: "bob@example.com", subject: "Hi\nthere", text: "x"),
            MailMessage(to: "bob@example.com", subject: "Hi\rthere", text: "x"),
            MailMessage(to: "Bob <bob@example.com>", subject: "s", text: "x"),
            MailMessage(to: "bob@example.com, eve@example.com", subject: "s", text: "x"),
            MailMessage(to: "bob", subject: "s", text: "x"),
            MailMessage(to: "", subject: "s", text: "x"),
        ]
        for message in bad {
            #expect(throws: SMTPError.self) { try SMTPMailer.validate(message) }
            do {
                try SMTPMailer.validate(message)
            } catch let error as SMTPError {
                guard case .configuration = error else {
                    Issue.record("expected .configuration, got \(error)")
                    continue
                }
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        #expect(throws: Never.self) {
            try SMTPMailer.validate(MailMessage(to: "bob+tally@example.com", subject: "Grüße\t🎉", text: "a\r\n.\r\nb"))
        }
    }

    @Test func renderNeutralisesLineBreaksEvenWithoutValidation() {
        let rendered = SMTPMailer.render(
            MailMessage(to: "bob@example.com\r\nBcc: eve@example.com", subject: "x\nBcc: eve@example.com", text: ""),
            from: "t@example.com", date: date, messageID: "x@y"
        )
        let headers = rendered.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
        #expect(!headers.contains(where: { $0.hasPrefix("Bcc:") }))
    }

    @Test func messageIDUsesTheSenderDomain() {
        let id = SMTPMailer.makeMessageID(from: "tally@example.com")
        #expect(id.hasPrefix("<") && id.hasSuffix("@example.com>"))
        #expect(SMTPMailer.makeMessageID(from: "tally@[127.0.0.1]").hasSuffix("@tally.invalid>"))
        #expect(SMTPMailer.makeMessageID(from: "a@example.com") != SMTPMailer.makeMessageID(from: "a@example.com"))
    }
}

@Suite("SMTP replies")
struct SMTPReplyTests {
    @Test func multiLineReply() throws {
        var parser = SMTPReply.Parser()
        #expect(try parser.feed("250-mail.example.com Hello") == nil)
        #expect(try parser.feed("250-AUTH PLAIN LOGIN") == nil)
        #expect(try parser.feed("250-8BITMIME") == nil)
        let reply = try #require(try parser.feed("250 STARTTLS"))
        #expect(reply.code == 250)
        #expect(reply.lines == ["mail.example.com Hello", "AUTH PLAIN LOGIN", "8BITMIME", "STARTTLS"])
        let extensions = SMTPExtensions(ehloReply: reply)
        #expect(extensions.supports("STARTTLS"))
        #expect(extensions.supports("8BITMIME"))
        #expect(!extensions.supports("SMTPUTF8"))
        #expect(extensions.authMechanisms == ["PLAIN", "LOGIN"])
        // The parser is reusable after a complete reply.
        #expect(try parser.feed("221") == SMTPReply(code: 221, lines: [""]))
    }

    @Test func legacyAuthSyntax() {
        let extensions = SMTPExtensions(ehloReply: SMTPReply(code: 250, lines: ["hi", "auth=LOGIN", "size 1000"]))
        #expect(extensions.authMechanisms == ["LOGIN"])
        #expect(extensions.keywords["SIZE"] == ["1000"])
    }

    @Test(arguments: ["", "25", "HTTP/1.1 400 Bad Request", "250x", "650 nope", "abc def"])
    func malformedLines(line: String) {
        var parser = SMTPReply.Parser()
        #expect(throws: SMTPError.self) { _ = try parser.feed(line) }
    }

    @Test func inconsistentCodes() throws {
        var parser = SMTPReply.Parser()
        _ = try parser.feed("250-first")
        #expect(throws: SMTPError.self) { _ = try parser.feed("550 second") }
    }
}

@Suite("SMTPMailer without a server")
struct SMTPMailerOfflineTests {
    @Test func closedPortIsAConnectionErrorWithoutThePassword() async throws {
        let configuration = try SMTPConfiguration.parse("smtp://tally:\(secret)@127.0.0.1:1")
        let mailer = SMTPMailer(configuration: configuration, logger: Logger(label: "test"))
        do {
            try await mailer.send(MailMessage(to: "bob@example.com", subject: "s", text: "x"))
            Issue.record("expected a connection error")
        } catch let error as SMTPError {
            guard case .connection = error else {
                Issue.record("expected .connection, got \(error)")
                return
            }
            #expect(!error.description.contains(secret))
        }
    }

    @Test func headerInjectionIsRejectedBeforeConnecting() async throws {
        // Port 1 on loopback: if validation did not come first, this would be a .connection error.
        let mailer = SMTPMailer(
            configuration: SMTPConfiguration(host: "127.0.0.1", port: 1, from: "tally@example.com"),
            logger: Logger(label: "test")
        )
        await #expect(throws: SMTPError.configuration("the subject contains a line break or NUL")) {
            try await mailer.send(MailMessage(to: "bob@example.com", subject: "a\r\nBcc: eve@example.com", text: "x"))
        }
        await #expect(throws: SMTPError.configuration("the recipient address contains a line break")) {
            try await mailer.send(MailMessage(to: "bob@example.com\r\nBcc: eve@example.com", subject: "s", text: "x"))
        }
    }

    @Test func errorDescriptions() {
        #expect(SMTPError.configuration("x").description == "SMTP configuration error: x")
        #expect(SMTPError.connection("y").description == "SMTP connection error: y")
        #expect(
            SMTPError.rejected(command: "RCPT TO:<a@b.c>", code: 550, reply: "no such user").description
                == "SMTP server rejected RCPT TO:<a@b.c>: 550 no such user"
        )
    }
}

// MARK: - Helpers

/// The (possibly folded) value of header `name` in a rendered message.
private func headerBlock(_ rendered: String, name: String) -> String? {
    let head = rendered.components(separatedBy: "\r\n\r\n")[0]
    var result: [String]?
    for line in head.components(separatedBy: "\r\n") {
        if line.hasPrefix("\(name): ") {
            result = [String(line.dropFirst(name.count + 2))]
        } else if result != nil, line.hasPrefix(" ") || line.hasPrefix("\t") {
            result?.append(line)
        } else if result != nil {
            break
        }
    }
    return result?.joined(separator: "\r\n")
}

/// Decodes a header made only of `=?utf-8?B?…?=` words (whitespace between them is dropped).
private func decodeEncodedWords(_ header: String) -> String? {
    var bytes: [UInt8] = []
    for word in header.split(whereSeparator: \.isWhitespace) {
        guard word.hasPrefix("=?utf-8?B?"), word.hasSuffix("?=") else { return nil }
        guard let data = Data(base64Encoded: String(word.dropFirst(10).dropLast(2))) else { return nil }
        bytes += data
    }
    return String(validating: bytes, as: UTF8.self)
}

private func decodeQuotedPrintable(_ body: String) -> String? {
    var bytes: [UInt8] = []
    let input = Array(body.replacing("=\r\n", with: "").utf8)
    var index = 0
    while index < input.count {
        if input[index] == UInt8(ascii: "="), index + 2 < input.count,
            let value = UInt8(String(decoding: input[index + 1...index + 2], as: UTF8.self), radix: 16)
        {
            bytes.append(value)
            index += 3
        } else {
            bytes.append(input[index])
            index += 1
        }
    }
    return String(validating: bytes, as: UTF8.self)
}
