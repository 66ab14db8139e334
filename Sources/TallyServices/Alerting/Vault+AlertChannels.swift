import TallyCore

/// An alert channel's secret (a webhook's signing secret, a Slack or Discord webhook URL) sealed like provider keys:
/// AES-256-GCM with the organization, the channel and the field `alert_channel` as associated data, so a ciphertext
/// copied to another channel does not open, and `tally keys rotate-master` re-seals it with the connections' keys.
extension Vault {
    public func sealChannelSecret(_ plaintext: String, organizationID: String, channelID: String) throws -> String {
        try seal(plaintext, organizationID: organizationID, connectionID: channelID, field: .alertChannel).text
    }

    public func openChannelSecret(_ sealedText: String, organizationID: String, channelID: String) throws(Failure)
        -> String
    {
        guard let sealed = SealedSecret(text: sealedText) else { throw .authenticationFailed }
        return try open(sealed, organizationID: organizationID, connectionID: channelID, field: .alertChannel)
    }
}
