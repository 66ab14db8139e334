import Foundation

/// A mail to one recipient: plain text, or text and HTML as multipart/alternative.
public struct MailMessage: Sendable, Equatable {
    /// A bare address (`name@example.com`). Line breaks, spaces and `<>` are rejected at send time.
    public var to: String
    /// Any text without line breaks; non-ASCII is sent as RFC 2047 encoded-words.
    public var subject: String
    /// The body, UTF-8; any line ending style is accepted and sent as CRLF.
    public var text: String
    /// An HTML alternative of `text` (alert mails); nil: a plain-text mail.
    public var html: String?
    /// Files sent with the mail (a statement's PDF and CSV): the mail is then multipart/mixed.
    public var attachments: [MailAttachment]

    public init(to: String, subject: String, text: String, html: String? = nil, attachments: [MailAttachment] = []) {
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.attachments = attachments
    }
}

/// A file attached to a mail, sent base64-encoded.
public struct MailAttachment: Sendable, Equatable {
    /// ASCII letters, digits, `.`, `-` and `_` only (others become `_`): the name goes into a header.
    public var filename: String
    /// `application/pdf`, `text/csv; charset=utf-8`, …
    public var contentType: String
    public var bytes: [UInt8]

    public init(filename: String, contentType: String, bytes: [UInt8]) {
        self.filename = String(
            filename.unicodeScalars.map { s -> Character in
                s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s) || ".-_".unicodeScalars.contains(s))
                    ? Character(s) : "_"
            })
        self.contentType = contentType
        self.bytes = bytes
    }
}

/// Something that delivers a `MailMessage` (SMTP in production, a recorder in tests).
public protocol Mailer: Sendable {
    func send(_ message: MailMessage) async throws
}

// MARK: - Message formatting (RFC 5322 / RFC 2045 / RFC 2047)

extension SMTPMailer {
    /// The `Content-Transfer-Encoding` of the body.
    public enum TransferEncoding: String, Sendable {
        /// ASCII only, lines of at most 998 octets.
        case sevenBit = "7bit"
        /// Raw UTF-8, lines of at most 998 octets; sent with `BODY=8BITMIME` (needs the server's 8BITMIME).
        case eightBit = "8bit"
        /// Safe for anything, lines of at most 76 characters.
        case quotedPrintable = "quoted-printable"
    }

    /// Renders `message` as an RFC 5322 message (headers, blank line, body) with CRLF line endings.
    ///
    /// The result is *not* dot-stuffed; `dotStuffed(_:)` turns it into the payload of `DATA`.
    /// Header values are assumed validated (`send` rejects CR/LF in `to` and `subject`); as a last line
    /// of defence any CR or LF that still reaches a header is replaced by a space.
    /// - Parameters:
    ///   - messageID: with or without the surrounding `<>`.
    ///   - transferEncoding: `nil` picks `preferredTransferEncoding(for:)`.
    public static func render(
        _ message: MailMessage,
        from: String,
        date: Date,
        messageID: String,
        transferEncoding: TransferEncoding? = nil
    ) -> String {
        let encoding = transferEncoding ?? preferredTransferEncoding(for: message.text)
        let id = messageID.hasPrefix("<") ? messageID : "<\(messageID)>"
        var out = ""
        out.reserveCapacity(message.text.utf8.count + 512)
        out += "From: \(headerSafe(from))\r\n"
        out += "To: \(headerSafe(message.to))\r\n"
        out += "Subject: \(encodeUnstructuredHeader(headerSafe(message.subject), nameLength: "Subject".utf8.count))\r\n"
        out += "Date: \(rfc5322Date(date))\r\n"
        out += "Message-ID: \(headerSafe(id))\r\n"
        out += "MIME-Version: 1.0\r\n"
        if !message.attachments.isEmpty {
            // The text (and HTML) first, quoted-printable, then each file in base64: every line 7-bit and short.
            let boundary = "tally-mixed-" + UUID().uuidString.lowercased()
            out += "Content-Type: multipart/mixed; boundary=\"\(boundary)\"\r\n\r\n"
            var body = message
            body.attachments = []
            let inner = render(body, from: from, date: date, messageID: messageID, transferEncoding: .quotedPrintable)
            // The inner message's own headers are dropped but for its content headers.
            let head = inner.range(of: "MIME-Version: 1.0\r\n").map { inner[$0.upperBound...] } ?? Substring(inner)
            out += "--\(boundary)\r\n" + head
            for file in message.attachments {
                out += "--\(boundary)\r\nContent-Type: \(headerSafe(file.contentType))\r\n"
                out += "Content-Transfer-Encoding: base64\r\n"
                out += "Content-Disposition: attachment; filename=\"\(file.filename)\"\r\n\r\n"
                let encoded = Data(file.bytes).base64EncodedString()
                var start = encoded.startIndex
                while start < encoded.endIndex {
                    let end = encoded.index(start, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex
                    out += encoded[start..<end] + "\r\n"
                    start = end
                }
            }
            return out + "--\(boundary)--\r\n"
        }
        if let html = message.html {
            // Both parts quoted-printable: no line is too long and the boundary (random) cannot occur in them.
            let boundary = "tally-" + UUID().uuidString.lowercased()
            out += "Content-Type: multipart/alternative; boundary=\"\(boundary)\"\r\n\r\n"
            for (type, body) in [("text/plain", message.text), ("text/html", html)] {
                out += "--\(boundary)\r\nContent-Type: \(type); charset=utf-8\r\n"
                out += "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                for line in splitLines(Array(body.utf8)) { out += quotedPrintable(line) + "\r\n" }
            }
            return out + "--\(boundary)--\r\n"
        }
        out += "Content-Type: text/plain; charset=utf-8\r\n"
        out += "Content-Transfer-Encoding: \(encoding.rawValue)\r\n"
        out += "\r\n"
        let lines = splitLines(Array(message.text.utf8))
        switch encoding {
        case .sevenBit, .eightBit:
            for line in lines {
                out += String(decoding: line, as: UTF8.self)
                out += "\r\n"
            }
        case .quotedPrintable:
            for line in lines {
                out += quotedPrintable(line)
                out += "\r\n"
            }
        }
        return out
    }

    /// 7bit for short-lined ASCII, 8bit for short-lined UTF-8, quoted-printable when a line is longer than
    /// 998 octets or the text contains NUL.
    public static func preferredTransferEncoding(for text: String) -> TransferEncoding {
        let bytes = Array(text.utf8)
        if bytes.contains(0) { return .quotedPrintable }
        if splitLines(bytes).contains(where: { $0.count > 998 }) { return .quotedPrintable }
        return bytes.allSatisfy({ $0 < 0x80 }) ? .sevenBit : .eightBit
    }

    /// The `DATA` payload for a rendered message: CRLF line endings, a `.` doubled at the start of every
    /// line that begins with one (RFC 5321 §4.5.2), and the terminating `<CRLF>.<CRLF>`.
    public static func dotStuffed(_ rendered: String) -> String {
        var out = ""
        out.reserveCapacity(rendered.utf8.count + 16)
        for line in splitLines(Array(rendered.utf8)) {
            if line.first == UInt8(ascii: ".") { out += "." }
            out += String(decoding: line, as: UTF8.self)
            out += "\r\n"
        }
        out += ".\r\n"
        return out
    }

    /// `Tue, 01 Jul 2025 09:05:03 +0000` (always UTC, independent of locale and time zone).
    public static func rfc5322Date(_ date: Date) -> String {
        let seconds = Int64((date.timeIntervalSince1970).rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let weekday = Int(((days % 7) + 7 + 4) % 7)  // 1970-01-01 was a Thursday (index 4, Sunday = 0)
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(weekdays[weekday]), \(two(day)) \(months[Int(month) - 1]) \(year) "
            + "\(two(secondOfDay / 3_600)):\(two(secondOfDay % 3_600 / 60)):\(two(secondOfDay % 60)) +0000"
    }

    /// `<random-uuid@domain-of-from>`.
    static func makeMessageID(from: String) -> String {
        var domain = from.lastIndex(of: "@").map { String(from[from.index(after: $0)...]) } ?? "tally.invalid"
        if domain.isEmpty || domain.hasPrefix("[") { domain = "tally.invalid" }
        return "<\(UUID().uuidString.lowercased())@\(domain)>"
    }

    /// Rejects what would corrupt the envelope or the headers: CR/LF (header injection) in `to` or
    /// `subject`, and a `to` that is not a bare address.
    static func validate(_ message: MailMessage) throws {
        try SMTPConfiguration.validateAddress(message.to, role: "recipient address")
        if message.subject.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\u{0}" }) {
            throw SMTPError.configuration("the subject contains a line break or NUL")
        }
    }

    // MARK: helpers

    static func headerSafe(_ value: String) -> String {
        guard value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\u{0}" }) else { return value }
        return String(
            String.UnicodeScalarView(value.unicodeScalars.map { $0 == "\r" || $0 == "\n" || $0 == "\u{0}" ? " " : $0 }))
    }

    /// An unstructured header value: printable ASCII is folded at spaces to keep lines within 78
    /// characters; anything else becomes a sequence of RFC 2047 `=?utf-8?B?…?=` encoded-words of at
    /// most 64 characters each, never splitting a UTF-8 sequence.
    static func encodeUnstructuredHeader(_ value: String, nameLength: Int) -> String {
        let isPlainASCII = value.unicodeScalars.allSatisfy { ($0.value >= 0x20 && $0.value < 0x7F) || $0 == "\t" }
        let words = value.split(separator: " ", omittingEmptySubsequences: false)
        if isPlainASCII, !value.contains("=?"), !words.contains(where: { $0.utf8.count > 900 }) {
            var out = ""
            var lineLength = nameLength + 2  // "Name: "
            for (index, word) in words.enumerated() {
                if index == 0 {
                    out += word
                    lineLength += word.utf8.count
                } else if lineLength + 1 + word.utf8.count > 78, !word.isEmpty, lineLength > nameLength + 2 {
                    out += "\r\n " + word
                    lineLength = 1 + word.utf8.count
                } else {
                    out += " " + word
                    lineLength += 1 + word.utf8.count
                }
            }
            return out
        }
        // 39 octets -> 52 base64 characters -> a 64-character encoded-word; "Subject: " + 64 <= 76.
        var chunks: [[UInt8]] = []
        var current: [UInt8] = []
        for scalar in value.unicodeScalars {
            let encoded = Array(String(scalar).utf8)
            if current.count + encoded.count > 39 {
                chunks.append(current)
                current = []
            }
            current += encoded
        }
        if !current.isEmpty || chunks.isEmpty { chunks.append(current) }
        return chunks.map { "=?utf-8?B?\(Data($0).base64EncodedString())?=" }.joined(separator: "\r\n ")
    }

    /// Splits on CRLF, lone CR or lone LF. A trailing line break does not produce an empty last line.
    static func splitLines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0D || byte == 0x0A {
                lines.append(bytes[start..<index])
                if byte == 0x0D, index + 1 < bytes.count, bytes[index + 1] == 0x0A { index += 1 }
                index += 1
                start = index
            } else {
                index += 1
            }
        }
        if start < bytes.count { lines.append(bytes[start..<bytes.count]) }
        return lines
    }

    /// Quoted-printable (RFC 2045 §6.7) for one line without its line break; soft breaks keep every
    /// output line within 76 characters.
    static func quotedPrintable(_ line: ArraySlice<UInt8>) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(line.count * 3 / 2)
        var lineLength = 0
        for (offset, byte) in line.enumerated() {
            let isLast = offset == line.count - 1
            var token: [UInt8]
            switch byte {
            case 0x20, 0x09:
                token = isLast ? [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]] : [byte]
            case 33...60, 62...126:
                token = [byte]
            default:
                token = [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
            if lineLength + token.count > (isLast ? 76 : 75) {
                out += [UInt8(ascii: "="), 0x0D, 0x0A]
                lineLength = 0
            }
            out += token
            lineLength += token.count
        }
        return String(decoding: out, as: UTF8.self)
    }
}
