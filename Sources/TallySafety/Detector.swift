/// The built-in detectors, by their API names.
public enum Detector: String, CaseIterable, Sendable, Codable {
    case email, phone
    /// 13–19 digits, optional single spaces/dashes between groups, Luhn-checked, first digit 2–6.
    case creditCard = "credit_card"
    /// Country code, 2 check digits and the country's BBAN length, mod-97 == 1, optional spaces in groups of 4.
    case iban
    /// ddd-dd-dddd (or spaces): area not 000/666/9xx, group not 00, serial not 0000.
    case usSSN = "us_ssn"
    /// IPv4 dotted quads and validated IPv6 (full and `::`-compressed).
    case ipAddress = "ip_address"
    /// Provider API keys, PEM private key blocks and JWTs.
    case secret

    /// The flag an event records for a match: "pii.email", …, and "secret".
    public var flag: String {
        self == .secret ? "secret" : "pii." + rawValue
    }

    /// What replaces a match when redacting: "[REDACTED:EMAIL]", …, "[REDACTED:SECRET]".
    public var placeholder: String {
        "[REDACTED:" + rawValue.uppercased() + "]"
    }

    /// Where this detector matches in `text`, in order, not overlapping.
    public func matches(in text: String) -> [Range<String.Index>] {
        let bytes = TextBytes(text)
        return bytes.stringRanges(byteMatches(in: bytes))
    }

    /// Where `detector` matches in `text` (the same as `detector.matches(in:)`).
    public static func matches(of detector: Detector, in text: String) -> [Range<String.Index>] {
        detector.matches(in: text)
    }

    /// The matches as UTF-8 byte offsets.
    func byteMatches(in bytes: TextBytes) -> [Range<Int>] {
        switch self {
        case .email: EmailScanner.matches(in: bytes)
        case .phone: PhoneScanner.matches(in: bytes)
        case .creditCard: CardScanner.matches(in: bytes)
        case .iban: IBANScanner.matches(in: bytes)
        case .usSSN: SSNScanner.matches(in: bytes)
        case .ipAddress: IPAddressScanner.matches(in: bytes)
        case .secret: SecretScanner.matches(in: bytes)
        }
    }
}
