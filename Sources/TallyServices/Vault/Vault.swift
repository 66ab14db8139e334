import Crypto
import Foundation
import TallyCore

/// The 256-bit key every provider secret is sealed with. Its id (a hash prefix, which reveals nothing of the key)
/// is stored beside each secret, so a secret sealed under another key is recognised as such, not as tampering.
public struct MasterKey: Sendable {
    public let key: SymmetricKey
    public let id: String

    public init(bytes: [UInt8]) {
        key = SymmetricKey(data: bytes)
        let digest = SHA256.hash(data: Array("tally master key id".utf8) + bytes)
        id = digest.prefix(6).map { String(format: "%02x", $0) }.joined()
    }

    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// Base64 of exactly 32 bytes; the reason never repeats the value.
    public static func parse(base64 text: String, source: String) throws(Problem) -> MasterKey {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let data = Data(base64Encoded: trimmed), data.count == 32 else {
            throw Problem(
                description:
                    "\(source) must be the base64 encoding of 32 random bytes (for example: openssl rand -base64 32)")
        }
        return MasterKey(bytes: Array(data))
    }

    public static func read(file path: String, source: String) throws(Problem) -> MasterKey {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw Problem(description: "\(source) names \(path), which cannot be read")
        }
        return try parse(base64: text, source: "\(source) (\(path))")
    }

    public static func generate() -> MasterKey {
        var rng = SystemRandomNumberGenerator()
        return MasterKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    public var base64: String { key.withUnsafeBytes { Data($0).base64EncodedString() } }

    /// Writes the key to a new file only its owner can read.
    public func write(to path: String) throws(Problem) {
        let created = FileManager.default.createFile(
            atPath: path, contents: Data((base64 + "\n").utf8),
            attributes: [.posixPermissions: 0o600])
        guard created else { throw Problem(description: "cannot write the master key to \(path)") }
    }
}

/// Seals and opens provider secrets with AES-256-GCM: a random 96-bit nonce per secret, and the organization,
/// connection and field as associated data, so a ciphertext copied to another row does not open.
public struct Vault: Sendable {
    public let master: MasterKey

    public init(master: MasterKey) { self.master = master }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case sealedUnderAnotherKey(stored: String, current: String)
        case authenticationFailed

        public var description: String {
            switch self {
            case .sealedUnderAnotherKey(let stored, let current):
                "the stored key was sealed with master key \(stored), but Tally runs with master key \(current): "
                    + "start it with the master key in use, or finish the rotation (tally keys rotate-master)"
            case .authenticationFailed:
                "the stored key failed authentication: its ciphertext or its organization/connection binding was altered"
            }
        }
    }

    package static func associatedData(
        organizationID: String, connectionID: String, field: ProviderConnection.SecretField
    ) -> [UInt8] {
        Array("tally.v1|\(organizationID)|\(connectionID)|\(field.rawValue)".utf8)
    }

    public func seal(
        _ plaintext: String, organizationID: String, connectionID: String,
        field: ProviderConnection.SecretField
    ) throws -> SealedSecret {
        let box = try AES.GCM.seal(
            Array(plaintext.utf8), using: master.key, nonce: AES.GCM.Nonce(),
            authenticating: Self.associatedData(
                organizationID: organizationID, connectionID: connectionID, field: field))
        guard let combined = box.combined else { throw Failure.authenticationFailed }
        return SealedSecret(keyID: master.id, combined: Array(combined))
    }

    public func open(
        _ sealed: SealedSecret, organizationID: String, connectionID: String,
        field: ProviderConnection.SecretField
    ) throws(Failure) -> String {
        guard sealed.keyID == master.id else { throw .sealedUnderAnotherKey(stored: sealed.keyID, current: master.id) }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed.combined)
            let plain = try AES.GCM.open(
                box, using: master.key,
                authenticating: Self.associatedData(
                    organizationID: organizationID, connectionID: connectionID, field: field))
            guard let text = String(bytes: plain, encoding: .utf8) else { throw Failure.authenticationFailed }
            return text
        } catch {
            throw .authenticationFailed
        }
    }

    /// Re-seals every secret under `newKey`, in one transaction: all or nothing.
    public static func rotate(store: some ConnectionStore, from old: Vault, to new: Vault) async throws -> Int {
        let records = try await store.sealedSecrets()
        var changes: [(old: SealedSecretRecord, new: SealedSecret)] = []
        for record in records {
            let plain = try old.open(
                record.secret, organizationID: record.organizationID, connectionID: record.connectionID,
                field: record.field)
            let sealed = try new.seal(
                plain, organizationID: record.organizationID, connectionID: record.connectionID, field: record.field)
            changes.append((record, sealed))
        }
        if !changes.isEmpty { try await store.replaceSealedSecrets(changes) }
        return changes.count
    }
}
