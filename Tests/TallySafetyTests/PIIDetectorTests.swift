import TallySafety
import Testing

@Suite struct EmailDetectorTests {
    @Test func findsAddresses() {
        #expect(found(.email, in: "write to jane.doe+tally@example.co.uk today") == ["jane.doe+tally@example.co.uk"])
        #expect(found(.email, in: "a@b.io, c_d@mail.example.com.") == ["a@b.io", "c_d@mail.example.com"])
    }

    @Test func refusesLookAlikes() {
        #expect(found(.email, in: "user@localhost") == [])
        #expect(found(.email, in: "user@example.c1") == [])
        #expect(found(.email, in: "decorators like @property and a@b") == [])
        #expect(found(.email, in: "x@example..com") == [])
        #expect(found(.email, in: "@@@@") == [])
    }
}

@Suite struct PhoneDetectorTests {
    @Test func findsFormattedNumbers() {
        #expect(found(.phone, in: "call +1 415 555 0100 now") == ["+1 415 555 0100"])
        #expect(found(.phone, in: "office (415) 555-0100.") == ["(415) 555-0100"])
        #expect(found(.phone, in: "+44 20 7946 0958 or 415.555.0100") == ["+44 20 7946 0958", "415.555.0100"])
        #expect(found(.phone, in: "+14155550100") == ["+14155550100"])
    }

    @Test func refusesOtherNumbers() {
        #expect(found(.phone, in: "due 2026-12-06") == [])
        #expect(found(.phone, in: "order 123456 shipped") == [])
        #expect(found(.phone, in: "timestamp 1733500000") == [])
        #expect(found(.phone, in: "pi is 3.14159265358") == [])
        #expect(found(.phone, in: "1 2 3 4 5 6 7 8 9 10") == [])
        #expect(found(.phone, in: "card 4111 1111 1111 1111") == [])
        #expect(found(.phone, in: "IP 192.168.100.200") == [])
        #expect(found(.phone, in: "id 1234567890123456789 and 415-555-01001234567") == [])
    }
}

@Suite struct CardDetectorTests {
    @Test func findsLuhnValidNumbers() {
        #expect(found(.creditCard, in: "card 4111 1111 1111 1111 exp") == ["4111 1111 1111 1111"])
        #expect(found(.creditCard, in: "5555-5555-5555-4444") == ["5555-5555-5555-4444"])
        #expect(found(.creditCard, in: "amex 378282246310005.") == ["378282246310005"])
        #expect(
            found(.creditCard, in: "4111111111111111 4012888888881881") == ["4111111111111111", "4012888888881881"])
    }

    @Test func refusesInvalidNumbers() {
        #expect(found(.creditCard, in: "4111 1111 1111 1112") == [])
        #expect(found(.creditCard, in: "4111  1111 1111 1111") == [])  // two spaces split the groups
        #expect(found(.creditCard, in: "7111111111111114") == [])  // Luhn-valid, but no card starts with 7
        #expect(found(.creditCard, in: "x4111111111111111") == [])
        #expect(found(.creditCard, in: "41111111111111110000") == [])  // 20 digits
    }
}

@Suite struct IBANDetectorTests {
    @Test func findsValidIBANs() {
        #expect(found(.iban, in: "pay GB82 WEST 1234 5698 7654 32 now") == ["GB82 WEST 1234 5698 7654 32"])
        #expect(found(.iban, in: "IBAN: DE89370400440532013000.") == ["DE89370400440532013000"])
        #expect(found(.iban, in: "NO9386011117947") == ["NO9386011117947"])
        #expect(found(.iban, in: "CH9300762011623852957") == ["CH9300762011623852957"])
    }

    @Test func refusesWrongChecksOrLengths() {
        #expect(found(.iban, in: "DE88370400440532013000") == [])
        #expect(found(.iban, in: "GB82 WEST 1234 5698 7654 33") == [])
        #expect(found(.iban, in: "DE8937040044053201300") == [])  // one character short
        #expect(found(.iban, in: "XX89370400440532013000") == [])  // no such country
        #expect(found(.iban, in: "DE89370400440532013000X") == [])
    }
}

@Suite struct SSNDetectorTests {
    @Test func findsNumbers() {
        #expect(found(.usSSN, in: "SSN 123-45-6789.") == ["123-45-6789"])
        #expect(found(.usSSN, in: "ssn: 123 45 6789") == ["123 45 6789"])
    }

    @Test func refusesNeverIssuedOrEmbedded() {
        #expect(found(.usSSN, in: "000-12-3456 666-12-3456 900-12-3456") == [])
        #expect(found(.usSSN, in: "123-00-6789 123-45-0000") == [])
        #expect(found(.usSSN, in: "123-45 6789 and 9123-45-6789 and 123-45-6789-1") == [])
    }
}

@Suite struct IPAddressDetectorTests {
    @Test func findsVersion4() {
        #expect(found(.ipAddress, in: "host 192.168.0.1, gateway 10.0.0.254.") == ["192.168.0.1", "10.0.0.254"])
    }

    @Test func refusesBadVersion4() {
        #expect(found(.ipAddress, in: "999.1.1.1") == [])
        #expect(found(.ipAddress, in: "version 1.2.3.4.5") == [])
        #expect(found(.ipAddress, in: "v1.2.3.4 and 1.2.3") == [])
    }

    @Test func findsVersion6() {
        #expect(found(.ipAddress, in: "at 2001:db8::1 and ::1.") == ["2001:db8::1", "::1"])
        #expect(
            found(.ipAddress, in: "2001:0db8:85a3:0000:0000:8a2e:0370:7334") == [
                "2001:0db8:85a3:0000:0000:8a2e:0370:7334"
            ])
        #expect(found(.ipAddress, in: "fe80::") == ["fe80::"])
    }

    @Test func refusesBadVersion6() {
        #expect(found(.ipAddress, in: "std::vector and A::B") == [])
        #expect(found(.ipAddress, in: "at 10:30:45") == [])
        #expect(found(.ipAddress, in: "1::2::3") == [])
        #expect(found(.ipAddress, in: "12345::1") == [])
        #expect(found(.ipAddress, in: "1:2:3:4:5:6:7:8:9") == [])
    }
}
