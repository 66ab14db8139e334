/// Where and how Tally delivers mail: an SMTP relay, parsed from `TALLY_SMTP_URL`.
///
/// The password is never part of `description`, `debugDescription`, `dump()` output or any
/// `SMTPError`, so a configuration can be logged safely.
public struct SMTPConfiguration: Sendable, Equatable {
    /// How the connection to the relay is protected.
    public enum Security: String, Sendable {
        /// No TLS at all (`smtp://`). Only sensible on loopback or a trusted network.
        case plain
        /// Plain connection upgraded with `STARTTLS` (`smtp://…?starttls=true`, or port 587). Delivery fails
        /// if the server does not offer STARTTLS: there is no silent fallback to plain text.
        case startTLS
        /// TLS from the first byte (`smtps://`, "implicit TLS", usually port 465).
        case tls
    }

    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    /// Envelope sender (`MAIL FROM`) and `From:` header; a bare address such as `tally@example.com`.
    public var from: String
    public var security: Security
    /// The name sent with `EHLO`/`HELO`.
    public var heloName: String

    public init(
        host: String,
        port: Int? = nil,
        username: String? = nil,
        password: String? = nil,
        from: String? = nil,
        security: Security = .plain,
        heloName: String = "localhost"
    ) {
        self.host = host
        self.port = port ?? (security == .tls ? 465 : 25)
        self.username = username
        self.password = password
        self.from = from ?? Self.defaultFrom(host: host)
        self.security = security
        self.heloName = heloName
    }

    /// Parses `TALLY_SMTP_URL`:
    /// `smtp://[user[:password]@]host[:port][?from=addr&starttls=true|false&helo=name]` or `smtps://…`.
    ///
    /// - Defaults: port 25 (`smtp`), 465 (`smtps`); `from` = `tally@<host>`; `heloName` = `localhost`.
    /// - `smtp://` on port 587 means STARTTLS unless `starttls=false` is given.
    /// - User, password and query values are percent-decoded (write `@` as `%40`, `:` as `%3A`, `/` as `%2F`).
    /// - Throws: `SMTPError.configuration(reason)`; the reason never quotes any part of `url`, so it
    ///   cannot leak the password even when the URL is mangled.
    public static func parse(_ url: String) throws -> SMTPConfiguration {
        let input = url.trimmingASCIIWhitespace()
        guard !input.isEmpty else { throw SMTPError.configuration("TALLY_SMTP_URL is empty") }
        guard let separator = input.firstRange(of: "://") else {
            throw SMTPError.configuration("TALLY_SMTP_URL must start with smtp:// or smtps://")
        }

        var security: Security
        var defaultPort: Int
        switch input[..<separator.lowerBound].lowercased() {
        case "smtp": (security, defaultPort) = (.plain, 25)
        case "smtps": (security, defaultPort) = (.tls, 465)
        default: throw SMTPError.configuration("TALLY_SMTP_URL must start with smtp:// or smtps://")
        }

        // Split authority / path / query / fragment. The authority ends at the first '/', '?' or '#';
        // reserved characters inside the user name or password must be percent-encoded.
        let rest = input[separator.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var tail = rest[authorityEnd...]
        if tail.contains("#") {
            throw SMTPError.configuration(
                "TALLY_SMTP_URL must not contain a fragment ('#'); percent-encode '#' in the password as %23")
        }
        var query: Substring = ""
        if let questionMark = tail.firstIndex(of: "?") {
            query = tail[tail.index(after: questionMark)...]
            tail = tail[..<questionMark]
        }
        guard tail.isEmpty || tail == "/" else {
            throw SMTPError.configuration(
                "TALLY_SMTP_URL must not have a path; percent-encode '/' in the password as %2F")
        }

        // userinfo@host:port — the last '@' separates them, so a stray '@' in the password still parses.
        var username: String?
        var password: String?
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            let rawUser: Substring
            var rawPassword: Substring?
            if let colon = userInfo.firstIndex(of: ":") {
                rawUser = userInfo[..<colon]
                rawPassword = userInfo[userInfo.index(after: colon)...]
            } else {
                rawUser = userInfo
            }
            guard let user = percentDecode(rawUser) else {
                throw SMTPError.configuration("the user name in TALLY_SMTP_URL has invalid percent-encoding")
            }
            if let rawPassword {
                guard let decoded = percentDecode(rawPassword) else {
                    throw SMTPError.configuration("the password in TALLY_SMTP_URL has invalid percent-encoding")
                }
                password = decoded
            }
            if user.isEmpty {
                if password?.isEmpty == false {
                    throw SMTPError.configuration("TALLY_SMTP_URL has a password but no user name")
                }
                password = nil
            } else {
                guard !user.contains(where: \.isNewline) else {
                    throw SMTPError.configuration("the user name in TALLY_SMTP_URL contains a line break")
                }
                username = user
            }
        }

        // host, [ipv6], host:port, [ipv6]:port
        var host: Substring
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw SMTPError.configuration("TALLY_SMTP_URL has an unterminated IPv6 address ('[' without ']')")
            }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let afterBracket = hostPort[hostPort.index(after: close)...]
            if !afterBracket.isEmpty {
                guard afterBracket.hasPrefix(":") else {
                    throw SMTPError.configuration("TALLY_SMTP_URL has unexpected characters after the IPv6 address")
                }
                portText = afterBracket.dropFirst()
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = hostPort
        }
        guard !host.isEmpty else { throw SMTPError.configuration("TALLY_SMTP_URL has no host") }
        guard host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "%") && $0 != UInt8(ascii: "@") })
        else {
            throw SMTPError.configuration(
                "the host in TALLY_SMTP_URL contains characters that are not allowed in a host name")
        }

        var port = defaultPort
        var portIsExplicit = false
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCIIDigit),
                let value = Int(portText), (1...65535).contains(value)
            else {
                throw SMTPError.configuration(
                    "the port in TALLY_SMTP_URL must be a number from 1 to 65535 (a password containing '/', '?' or '#' must percent-encode them as %2F, %3F, %23)"
                )
            }
            port = value
            portIsExplicit = true
        }

        // Query parameters.
        var from: String?
        var startTLS: Bool?
        var heloName = "localhost"
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let key: Substring
            let rawValue: Substring
            if let equals = pair.firstIndex(of: "=") {
                key = pair[..<equals]
                rawValue = pair[pair.index(after: equals)...]
            } else {
                key = pair
                rawValue = ""
            }
            guard let value = percentDecode(rawValue) else {
                throw SMTPError.configuration("a query parameter in TALLY_SMTP_URL has invalid percent-encoding")
            }
            switch key.lowercased() {
            case "from":
                try validateAddress(value, role: "from= address")
                from = value
            case "starttls":
                switch value.lowercased() {
                case "true", "1", "yes", "on": startTLS = true
                case "false", "0", "no", "off": startTLS = false
                default: throw SMTPError.configuration("starttls= in TALLY_SMTP_URL must be true or false")
                }
            case "helo", "ehlo":
                try validateHeloName(value)
                heloName = value
            default:
                throw SMTPError.configuration(
                    "TALLY_SMTP_URL has an unknown query parameter (supported: from, starttls, helo)")
            }
        }

        switch (security, startTLS) {
        case (.tls, true?):
            throw SMTPError.configuration(
                "starttls=true cannot be combined with smtps:// (which is TLS from the start)")
        case (.plain, true?):
            security = .startTLS
        case (.plain, nil) where portIsExplicit && port == 587:
            security = .startTLS
        default:
            break
        }

        return SMTPConfiguration(
            host: String(host),
            port: port,
            username: username,
            password: password,
            from: from ?? defaultFrom(host: String(host)),
            security: security,
            heloName: heloName
        )
    }

    /// `tally@<host>`, with IP literals written as RFC 5321 address literals.
    static func defaultFrom(host: String) -> String {
        if host.contains(":") { return "tally@[IPv6:\(host)]" }
        if !host.isEmpty, host.allSatisfy({ $0.isASCIIDigit || $0 == "." }) { return "tally@[\(host)]" }
        return "tally@\(host)"
    }

    /// Checks that `address` is a single bare mailbox (`local@domain`) that is safe to put into an SMTP
    /// command and a header: no line breaks (header/command injection), no spaces, no angle brackets,
    /// no list separators. Non-ASCII is allowed here (it needs SMTPUTF8, checked at send time).
    static func validateAddress(_ address: String, role: String) throws {
        if address.contains(where: { $0 == "\r" || $0 == "\n" || $0.isNewline }) {
            throw SMTPError.configuration("the \(role) contains a line break")
        }
        guard !address.isEmpty else { throw SMTPError.configuration("the \(role) is empty") }
        guard address.utf8.count <= 254 else { throw SMTPError.configuration("the \(role) is too long") }
        let forbidden: Set<Unicode.Scalar> = ["<", ">", ",", ";", "\"", "(", ")", "\\", " ", "\t"]
        guard !address.unicodeScalars.contains(where: { forbidden.contains($0) || $0.value < 0x20 || $0.value == 0x7F })
        else {
            throw SMTPError.configuration("the \(role) must be a bare address like name@example.com")
        }
        guard let at = address.lastIndex(of: "@"),
            at != address.startIndex,
            address.index(after: at) != address.endIndex
        else {
            throw SMTPError.configuration("the \(role) must be a bare address like name@example.com")
        }
    }

    static func validateHeloName(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 255,
            name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else {
            throw SMTPError.configuration("the HELO name must be a host name or address literal without spaces")
        }
    }

    /// RFC 3986 percent-decoding into UTF-8; `nil` for malformed escapes or invalid UTF-8. `+` stays `+`.
    static func percentDecode(_ text: Substring) -> String? {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension SMTPConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// `smtp://user:***@host:port (security: startTLS, from: …)`: the password is always masked.
    public var description: String {
        let scheme = security == .tls ? "smtps" : "smtp"
        var userInfo = ""
        if let username {
            userInfo = username + (password == nil ? "" : ":***") + "@"
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return
            "\(scheme)://\(userInfo)\(hostPart):\(port) (security: \(security.rawValue), from: \(from), helo: \(heloName))"
    }

    public var debugDescription: String { "SMTPConfiguration(\(description))" }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host, "port": port, "username": username as Any,
                "password": (password == nil ? "nil" : "***") as Any,
                "from": from, "security": security, "heloName": heloName,
            ],
            displayStyle: .struct
        )
    }
}

/// Everything that can go wrong while configuring or sending mail. No case ever carries the
/// password or the AUTH payload.
public enum SMTPError: Error, Equatable, CustomStringConvertible {
    /// The configuration or the message is unusable (bad `TALLY_SMTP_URL`, header injection, bad address).
    case configuration(String)
    /// The server could not be reached, TLS failed, the connection dropped, the server lacks a required
    /// extension (STARTTLS, AUTH), or the whole send timed out.
    case connection(String)
    /// The server answered a command with an unexpected reply code.
    case rejected(command: String, code: Int, reply: String)

    public var description: String {
        switch self {
        case .configuration(let reason):
            "SMTP configuration error: \(reason)"
        case .connection(let reason):
            "SMTP connection error: \(reason)"
        case .rejected(let command, let code, let reply):
            "SMTP server rejected \(command): \(code) \(reply)"
        }
    }
}

extension StringProtocol {
    func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
