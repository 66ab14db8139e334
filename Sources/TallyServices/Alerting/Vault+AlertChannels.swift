import Crypto
import Foundation
import TallyCore

/// An alert channel's secret (a webhook's signing secret, a Slack or Discord webhook URL) sealed like provider keys,
/// with the organization and the channel as associated data, so a ciphertext copied to another channel does not open.
extension Vault {
    static func channelAssociatedData(organizationID: String, channelID: String) -> [UInt8] {
        Array("tally.alert-channel.v1|\(organizationID)|\(channelID)".utf8)
    }

    public func sealChannelSecret(_ plaintext: String, organizationID: String, channelID: String) throws -> String {
        let box = try AES.GCM.seal(
            Array(plaintext.utf8), using: master.key, nonce: AES.GCM.Nonce(),
            authenticating: Self.channelAssociatedData(organizationID: organizationID, channelID: channelID))
        guard let combined = box.combined else { throw Failure.authenticationFailed }
        return SealedSecret(keyID: master.id, combined: Array(combined)).text
    }

    public func openChannelSecret(_ sealedText: String, organizationID: String, channelID: String) throws(Failure)
        -> String
    {
        guard let sealed = SealedSecret(text: sealedText) else { throw .authenticationFailed }
        guard sealed.keyID == master.id else { throw .sealedUnderAnotherKey(stored: sealed.keyID, current: master.id) }
        do {
            let plain = try AES.GCM.open(
                try AES.GCM.SealedBox(combined: sealed.combined), using: master.key,
                authenticating: Self.channelAssociatedData(organizationID: organizationID, channelID: channelID))
            guard let text = String(bytes: plain, encoding: .utf8) else { throw Failure.authenticationFailed }
            return text
        } catch {
            throw .authenticationFailed
        }
    }
}
