import Foundation
import Testing

@testable import TallyMail

/// A mail with an HTML alternative: multipart/alternative, text first, both parts quoted-printable.
@Suite struct MultipartMailTests {
    @Test func textAndHTMLAreAlternativesOfOneMail() throws {
        let message = MailMessage(
            to: "a@example.com", subject: "[Tally] Budget 'Search' passed 90%",
            text:
                "Spent: $226.10\n.starts with a dot\nURL: https://tally.example.com/usage?preset=custom&from=2026-12-01",
            html: "<p>Spent: $226.10 \u{2014} <a href=\"https://tally.example.com/usage?a=1&amp;b=2\">Open</a></p>")
        let rendered = SMTPMailer.render(
            message, from: "tally@example.com", date: Date(timeIntervalSince1970: 0), messageID: "id@example.com")
        let boundary = try #require(
            rendered.range(of: "boundary=\"").map { String(rendered[$0.upperBound...].prefix { $0 != "\"" }) })
        #expect(rendered.contains("Content-Type: multipart/alternative; boundary=\"\(boundary)\"\r\n"))
        let parts = rendered.components(separatedBy: "--\(boundary)")
        // preamble, text, html, closing "--\r\n"
        #expect(parts.count == 4 && parts[3] == "--\r\n")
        #expect(
            parts[1].contains("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"))
        #expect(
            parts[2].contains("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"))
        #expect(parts[1].contains("Spent: $226.10\r\n"))
        #expect(parts[1].contains("from=3D2026-12-01"))
        #expect(parts[2].contains("=E2=80=94"))
        #expect(rendered.utf8.allSatisfy { $0 < 0x80 })
        // Dot-stuffing still applies to the whole payload.
        #expect(SMTPMailer.dotStuffed(rendered).contains("\r\n..starts with a dot"))
    }

    @Test func withoutHTMLTheMailIsPlainTextAsBefore() {
        let rendered = SMTPMailer.render(
            MailMessage(to: "a@example.com", subject: "Hi", text: "plain"), from: "tally@example.com",
            date: Date(timeIntervalSince1970: 0), messageID: "id@example.com")
        #expect(rendered.contains("Content-Type: text/plain; charset=utf-8\r\n"))
        #expect(!rendered.contains("multipart"))
    }
}
