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

    /// Attachments (a statement's PDF and CSV): multipart/mixed, the text first, each file base64 in short lines, the
    /// file name reduced to safe characters, every byte 7-bit.
    @Test func attachmentsMakeAMixedMailWithBase64Files() throws {
        let pdf = Array("%PDF-1.7\n\u{0}\u{FF}binary".utf8) + [0, 255, 13, 10]
        let message = MailMessage(
            to: "a@example.com", subject: "[Tally] Statement 2026-11", text: "Spend: $12.00\n経理チーム",
            attachments: [
                MailAttachment(filename: "tally-statement-2026-11.pdf", contentType: "application/pdf", bytes: pdf),
                MailAttachment(
                    filename: "a\"b\r\nX: y.csv", contentType: "text/csv; charset=utf-8", bytes: Array("a,b\r\n".utf8)),
            ])
        let rendered = SMTPMailer.render(
            message, from: "tally@example.com", date: Date(timeIntervalSince1970: 0), messageID: "id@example.com")
        let boundary = try #require(
            rendered.range(of: "multipart/mixed; boundary=\"").map {
                String(rendered[$0.upperBound...].prefix { $0 != "\"" })
            })
        let parts = rendered.components(separatedBy: "--\(boundary)")
        #expect(parts.count == 5 && parts[4] == "--\r\n")
        #expect(
            parts[1].contains("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"))
        #expect(parts[1].contains("=E7=B5=8C"))
        #expect(parts[2].contains("Content-Disposition: attachment; filename=\"tally-statement-2026-11.pdf\""))
        let encoded = try #require(parts[2].components(separatedBy: "\r\n\r\n").last)
        let decoded = try #require(Data(base64Encoded: encoded, options: .ignoreUnknownCharacters))
        #expect(Array(decoded) == pdf)
        #expect(parts[3].contains("filename=\"a_b__X__y.csv\""))
        #expect(!rendered.contains("\nX: y"))
        #expect(rendered.utf8.allSatisfy { $0 < 0x80 })
        #expect(rendered.split(separator: "\r\n").allSatisfy { $0.utf8.count <= 998 })
    }
}
