import TallyCore
import Testing

@testable import TallyGateway
@testable import TallyServer

/// The gateway's settings as the server reads them (TallyConfig, ServerOptions); moved here from the gateway's tests,
/// which do not link the server.
@Suite struct GatewaySettingsTests {
    @Test func timeoutsDefaultToTheSDKsAndReadEveryUnit() throws {
        #expect(try TallyConfig.load(environment: [:], flags: [:]).gatewayTimeouts == GatewayTimeouts())
        let config = try TallyConfig.load(
            environment: [
                "TALLY_GATEWAY_CONNECT_TIMEOUT": "500ms", "TALLY_GATEWAY_FIRST_BYTE_TIMEOUT": "2m",
                "TALLY_GATEWAY_IDLE_TIMEOUT": "45",
            ], flags: [:])
        #expect(config.gatewayTimeouts.connect == .milliseconds(500))
        #expect(config.gatewayTimeouts.firstByte == .seconds(120))
        #expect(config.gatewayTimeouts.idle == .seconds(45))
        let flagged = try TallyConfig.load(
            environment: ["TALLY_GATEWAY_IDLE_TIMEOUT": "45"], flags: [.gatewayIdleTimeout: "3s"])
        #expect(flagged.gatewayTimeouts.idle == .seconds(3))
    }

    @Test(arguments: ["0", "50ms", "2h", "soon", "-1s", ""])
    func aTimeoutOutOfRangeNamesItsVariable(_ value: String) {
        guard !value.isEmpty else {
            // Empty means unset, like every other variable.
            #expect(
                (try? TallyConfig.load(environment: ["TALLY_GATEWAY_CONNECT_TIMEOUT": value], flags: [:]))?
                    .gatewayTimeouts.connect == .seconds(10))
            return
        }
        #expect {
            try TallyConfig.load(environment: ["TALLY_GATEWAY_CONNECT_TIMEOUT": value], flags: [:])
        } throws: { error in
            "\(error)".hasPrefix("TALLY_GATEWAY_CONNECT_TIMEOUT must be a duration from 100ms to 1h")
                && "\(error)".contains("\"\(value)\"")
        }
    }
}

@Suite struct GatewayBufferSettingTests {
    @Test func theLimitIsAServerOptionAndAnEnvironmentVariable() throws {
        #expect(ServerOptions().gatewayBufferLimit == 256 << 20)
        #expect(try TallyConfig.load(environment: [:], flags: [:]).gatewayBufferLimit == 256 << 20)
        #expect(
            try TallyConfig.load(environment: ["TALLY_GATEWAY_BUFFER_MB": "8"], flags: [:]).gatewayBufferLimit == 8
                << 20)
        #expect(throws: (any Error).self) {
            try TallyConfig.load(environment: ["TALLY_GATEWAY_BUFFER_MB": "0"], flags: [:])
        }
    }
}
